"""The Prefect flow of the prefect.localserver execenv: one task per experimental run.

Deployed as `flow.py:sierra`; the deployment's pull step makes this file's directory the
working directory; core's python/ directory comes in SIERRA_CORE_PYTHON (set for the worker,
not for runs). Parameters (sent with each flow run):
  runs_file: a JSON file of the runs, [{"id": "<exp>/run<i>", "commandBase64", "cwd",
        "env": {...}, "stdout", "stderr"}] as core's sierra_runs.py reads them (stdout/stderr
        null: discard); by reference, because the server refuses parameters over 512 KiB
  jobs: exactly this many runs execute at once (the thread pool's size)
  kill_grace_s: seconds between TERM and KILL when runs are stopped
  strict: stop at the first failed run: start no other, stop the running ones
  events: file that receives one JSON line per run start and end; the CLI follows it
          for exact pids, exit statuses and times, independent of the API's recording lag

Each run is started, reported and stopped by sierra_runs, with the caller's environment (see
sierra_runs.caller_env) plus the run's. A failed run makes its task Failed, and the flow returns a Failed
state naming the failed runs.

Stopping: a cancel (or SIGTERM to the engine) raises TerminationSignal in the flow's
thread; the flow then TERMs every live run group, KILLs them after kill_grace_s, waits
for their ends to be written, and re-raises. Run groups live in their own sessions, which
Prefect's own kill of the engine would not reach.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.environ["SIERRA_CORE_PYTHON"])
import sierra_runs  # from core's directory, put on the path just above
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from prefect.states import Completed, Failed
from prefect.task_runners import ThreadPoolTaskRunner

_live: dict[int, str] = {}  # pgid of each running run -> label
_lock = threading.Lock()
_stopping = threading.Event()
_settings: dict[str, Any] = {"events": None, "grace": 5.0, "strict": False}


def _emit(event: dict[str, Any]) -> None:
    # One short line per write on an O_APPEND file, under the lock: the reader never sees
    # interleaved lines.
    with _lock, open(_settings["events"], "a", encoding="utf-8") as out:
        out.write(json.dumps(event) + "\n")



def _stop_all() -> None:
    """No new run; TERM every live run group, KILL after the grace; returns once every
    stopped run's end is written."""
    _stopping.set()
    with _lock:
        groups = list(_live)
    sierra_runs.Stop(groups, _settings["grace"]).wait(lambda: not _live)


@task(name="run", task_run_name="{label}", cache_policy=NO_CACHE, persist_result=False, retries=0)
def run(label: str, spec: dict[str, Any]) -> int:
    if _stopping.is_set():
        raise RuntimeError(f"{label}: not started, the batch is stopping")
    started = time.time()
    try:
        with _lock:  # a stop either sees this run in _live or stops it from starting
            if _stopping.is_set():
                raise RuntimeError(f"{label}: not started, the batch is stopping")
            proc = sierra_runs.popen(spec, sierra_runs.caller_env(spec["env"]))
            _live[proc.pid] = label
    except (OSError, ValueError) as error:
        _emit({"ended": label, "code": None, "signal": None, "startedAt": started, "at": time.time(),
               "error": sierra_runs.not_started(error)})
        raise
    _emit({"started": label, "pid": proc.pid, "at": started})
    code, sig = sierra_runs.ended(proc.pid, sierra_runs.wait(proc, _settings["grace"]))
    _emit({"ended": label, "code": code, "signal": sig, "startedAt": started, "at": time.time()})
    with _lock:
        del _live[proc.pid]
    if code != 0:
        if _settings["strict"] and not _stopping.is_set():
            threading.Thread(target=_stop_all, daemon=True).start()
        how = f"exit code {code}" if sig is None else f"signal {sig}"
        raise RuntimeError(f"{label}: command failed with {how}")
    return code


@flow(name="sierra", persist_result=False, log_prints=False)
def sierra(runs_file: str, jobs: int = 1, kill_grace_s: float = 5.0, strict: bool = False,
           events: str = "events.jsonl"):
    _settings.update(events=events, grace=kill_grace_s, strict=strict)
    with open(runs_file, encoding="utf-8") as source:
        runs: list[dict[str, Any]] = json.load(source)
    with ThreadPoolTaskRunner(max_workers=jobs) as runner:
        try:
            futures = [
                runner.submit(run, parameters={"label": r["id"], "spec": r})
                for r in runs
            ]
            wait(futures)
        except BaseException:  # TerminationSignal on cancel, KeyboardInterrupt
            _stop_all()
            raise
    failed = [r["id"] for r, future in zip(runs, futures) if not future.state.is_completed()]
    if failed:
        return Failed(message=f"{len(failed)}/{len(runs)} runs failed: {', '.join(failed[:20])}")
    return Completed(message=f"{len(runs)} runs completed")
