"""The Prefect flow `sierra` of the Prefect 3 execenvs: one flow run is one drain (drain.py),
which serves a host's share of a batch's runs from the work directory, one Prefect task per run
(named after the run, on a thread pool of `jobs` threads).

Deployed as `flow.py:sierra`; the deployment's pull step makes this file's directory the
working directory; core's python/ directory comes in SIERRA_CORE_PYTHON (set for the engine,
not for runs). Parameters:
  work_dir: the batch's work directory (sets of runs, claims, events; see drain.py)
  jobs: at most this many runs execute at once on this drain's host
  kill_grace_s: seconds between TERM and KILL when runs are stopped
  strict: at the first failed run, write `stop`: every drain starts no new run and stops its own
  total_jobs: at most this many runs at once over every drain of the batch (0: no cap)
  execution_id: the batch's marker (SIERRA_EXEC_ID), for the host's watchdog

A failed run makes its task Failed; the flow returns Failed naming the failed runs, Cancelled
when stopped, Crashed when the CLI declared it dead, Completed otherwise (also when it bounced:
another drain serves its host). A cancel (or SIGTERM to the engine) raises TerminationSignal in
the flow's thread: the drain then stops every live run group (TERM, KILL after kill_grace_s),
writes their ends, and re-raises. Run groups live in their own sessions, which Prefect's own
kill of the engine would not reach.
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.environ["SIERRA_CORE_PYTHON"])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from drain import Drain  # this file's directory, put on the path just above
from prefect import flow, runtime, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Cancelled, Completed, Crashed, Failed
from prefect.task_runners import ThreadPoolTaskRunner

_drains: dict[str, Drain] = {}


@task(name="run", task_run_name="{label}", cache_policy=NO_CACHE, persist_result=False, retries=0)
def run(label: str, drain: str, set_index: int, index: int, spec: dict[str, Any], slot: str | None) -> None:
    _drains[drain].run(set_index, index, spec, slot)


@flow(name="sierra", persist_result=False, log_prints=False)
def sierra(work_dir: str, jobs: int = 1, kill_grace_s: float = 5.0, strict: bool = False,
           total_jobs: int = 0, execution_id: str = ""):
    drain = Drain(work_dir, jobs, kill_grace_s, strict, total_jobs, execution_id, flow_run=runtime.flow_run.id)
    _drains[drain.id] = drain
    with ThreadPoolTaskRunner(max_workers=drain.jobs) as runner:
        how, message = drain.serve(lambda n, i, spec, slot: runner.submit(run, parameters={
            "label": spec["id"], "drain": drain.id, "set_index": n, "index": i, "spec": spec, "slot": slot}))
    state = {"completed": Completed, "bounced": Completed, "failed": Failed, "stopped": Cancelled,
             "dead": Crashed}[how]
    return state(message=message)
