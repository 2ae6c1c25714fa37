"""One experimental run on a Slurm node, as an array task (jobs mode) or a job step (steps
mode): runs it with core's sierra_runs (copied next to this file) and writes where and how it
ran to files in the batch's state directory, which the CLI reads. Python 3.6+, standard
library only: it runs with whatever python3 the nodes have. The manifest's lines are runs as
sierra_runs reads them, plus "seq".

Files (STATE is shared by the CLI's host and the nodes): STATE/<seq>.start {"host", "at",
"job", "step"} when the run starts; STATE/<seq>.end {"code", "signal", "startedAt", "at",
"host"[, "error"]} when it ends, written whole (rename). A run that fails under
--exec-strict creates STATE/stop first, and no run starts once STATE/stop exists: Slurm
starts the next array task only after this one ends, so strict stops before any new run.

Stopping: SIGTERM (scancel), or EOF on stdin in steps mode (the CLI closed its pipe or
died): TERM to the run's process group, KILL after GRACE seconds.
Usage: run.py MANIFEST INDEX|array STATE GRACE strict|lenient steps|jobs
"""
import json
import os
import select
import signal
import socket
import sys
import time

# This file's directory holds sierra_runs, also where PYTHONSAFEPATH leaves it off the path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sierra_runs

MANIFEST, INDEX, STATE, GRACE, STRICT, MODE = sys.argv[1:7]
GRACE = float(GRACE)
STOP_FILE = os.path.join(STATE, "stop")
HOST = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
stopping = False


def now_ms():
    return int(time.time() * 1000)


def write_whole(path, message):
    temporary = f"{path}.{os.getpid()}.tmp"
    # No fsync: the rename makes the file whole for readers on other hosts; a node that
    # crashes takes its job with it, and Slurm's job state says so.
    with open(temporary, "w") as out:
        json.dump(message, out)
    os.rename(temporary, path)


def stdin_closed():
    """Steps mode: the CLI holds our stdin open through srun; EOF means stop."""
    if MODE != "steps":
        return False
    readable, _, _ = select.select([0], [], [], 0)
    return bool(readable) and os.read(0, 4096) == b""


def on_term(*_):
    global stopping
    stopping = True


def spec_at(index):
    with open(MANIFEST) as manifest:
        for number, line in enumerate(manifest):
            if number == index:
                return json.loads(line)
    raise SystemExit(f"run.py: no run {index} in {MANIFEST}")


def main():
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    index = int(os.environ["SLURM_ARRAY_TASK_ID"] if INDEX == "array" else INDEX)
    spec = spec_at(index)
    if os.path.exists(STOP_FILE) or stdin_closed() or stopping:
        return 0  # the batch is stopping: this run never starts
    seq = spec["seq"]
    started = now_ms()
    env = dict(os.environ)
    env.update(spec["env"])
    write_whole(os.path.join(STATE, f"{seq}.start"), {
        "host": HOST, "at": started, "job": os.environ.get("SLURM_JOB_ID"),
        "step": os.environ.get("SLURM_STEP_ID")})
    end = {"host": HOST, "startedAt": started, "code": None, "signal": None}
    try:
        child = sierra_runs.popen(spec, env)
    except (OSError, ValueError) as error:
        end.update(at=now_ms(), error=sierra_runs.not_started(error))
        return finish(seq, end)
    stop = None
    watch = [0] if MODE == "steps" else []
    while child.poll() is None:
        if not stopping and watch:
            readable, _, _ = select.select(watch, [], [], 0.1)
            if readable and os.read(0, 4096) == b"":
                on_term()
        else:
            time.sleep(0.05)
        if stopping and stop is None:
            stop = sierra_runs.Stop([child.pid], GRACE)
        if stop is not None:
            stop.poll()
    code, sig = sierra_runs.ended(child.pid, child.returncode)
    end.update(at=now_ms(), code=code, signal=sig)
    return finish(seq, end)


def finish(seq, end):
    failed = end["code"] != 0
    if failed and STRICT == "strict":
        open(STOP_FILE, "a").close()
    write_whole(os.path.join(STATE, f"{seq}.end"), end)
    # The job's own state tells cluster tools (sacct, squeue) whether the run failed.
    return 0 if not failed else (end["code"] if end["code"] else 1)


if __name__ == "__main__":
    sys.exit(main())
