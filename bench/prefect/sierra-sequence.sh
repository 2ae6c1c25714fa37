#!/usr/bin/env bash
# SIERRA's prefectserver.local shell sequence (pre_batch, exec_batch, post_batch commands),
# reproduced against an isolated PREFECT_HOME and a free port instead of the user's profile
# and 4200. Usage: sierra-sequence.sh PYTHON_BIN_DIR WORKDIR PORT INPUT_ROOT SCRATCH_ROOT JOBS
set -u
bin=$1 work=$2 port=$3 input=$4 scratch=$5 jobs=$6
export PATH="$bin:$PATH" PREFECT_HOME="$work/home" DO_NOT_TRACK=1 PREFECT_CLI_PROMPT=false
cd "$work"
prefect server start --host 127.0.0.1 --port "$port" >server.log 2>&1 &
sleep 10
prefect config set PREFECT_API_URL="http://127.0.0.1:$port/api"
prefect gcl delete sierra-exec-jobs-per-node >/dev/null 2>&1 || true
prefect gcl create sierra-exec-jobs-per-node --limit "$jobs"
prefect work-pool create --type process sierra-pool
prefect worker start --pool sierra-pool --work-queue sierra-queue >worker.log 2>&1 &
# SIERRA polls `prefect work-pool ls | grep -q sierra`, but 3.8.8's `work-pool ls` fails (HTTP 422,
# limit=None), so that loop never ends: the same wait through `work-pool inspect`.
until prefect work-pool inspect sierra-pool >/dev/null 2>&1; do sleep 1; done
prefect deploy "$work/sierra_flow.py:sierra" --name local --pool sierra-pool --work-queue sierra-queue
prefect deployment run sierra/local --params "{\"input_root\": \"$input\", \"scratch_root\": \"$scratch\"}" --watch
# SIERRA ends with `killall prefect`, which would hit other users' Prefect: the benchmark
# stops this script's process group and sweeps its marker instead.
