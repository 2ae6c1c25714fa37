"""The Prefect 1 side of sierra-exec's prefect1.localagent execenv: builds the flow of a
batch from its spec file, with one task per experimental run.

The module is imported twice: by register.py, which registers the flow, and inside the
flow-run process that the agent starts, which executes the generated flow script again
(Local storage, stored as a script). Both build the flow from the same spec file, so
they see the same tasks, slugs and settings. Both put core's python/ directory on sys.path
first, for sierra_runs, which starts, reports and stops the runs.
"""
import json
import os
import time
import uuid

import prefect
import sierra_runs
from prefect import Flow, Task
from prefect.engine import signals
from prefect.executors import LocalDaskExecutor
from prefect.run_configs import LocalRun
from prefect.storage import Local

# A finished task's state message: this prefix and the run's outcome as JSON. The plugin
# reads outcomes from the backend's task-run states, not from any process it owns.
OUTCOME_PREFIX = "sierra-exec outcome: "


def now_ms():
    return int(time.time() * 1000)


class SierraRun(Task):
    """One experimental run, as core's sierra_runs.py reads it (id, commandBase64, cwd, env,
    stdout, stderr) plus its task's slug."""

    def __init__(self, spec, settings, **kwargs):
        self.spec = spec
        self.settings = settings
        super().__init__(name=spec["id"], slug=spec["slug"], **kwargs)

    def run(self):
        spec = self.spec
        pid_file = os.path.join(self.settings["pidDir"], spec["slug"])
        started = now_ms()
        try:
            process = sierra_runs.popen(spec, sierra_runs.caller_env(spec["env"]))
        except (OSError, ValueError) as error:
            self.finish({"exitCode": None, "signal": None, "startedAt": started, "finishedAt": now_ms(),
                         "error": sierra_runs.not_started(error)})
        # The plugin stops runs by the process groups listed here (SIGINT, --exec-strict).
        with open(pid_file, "w") as out:
            out.write(str(process.pid))
        # Cancelling a flow run raises KeyboardInterrupt in its worker threads. Prefect would
        # leave the command running; wait stops its group instead, and still returns its end.
        returncode = sierra_runs.wait(process, self.settings["killGrace"])
        try:
            os.unlink(pid_file)
        except FileNotFoundError:  # the plugin stopped the run and removed it already
            pass
        code, sig = sierra_runs.ended(process.pid, returncode)
        self.finish({"exitCode": code, "signal": sig, "startedAt": started, "finishedAt": now_ms(), "pid": process.pid})

    def finish(self, outcome):
        message = OUTCOME_PREFIX + json.dumps(outcome)
        if outcome["exitCode"] == 0:
            raise signals.SUCCESS(message)
        if self.settings["strict"]:
            # --exec-strict: a cancelled flow run is not Running, so the backend refuses to
            # start any further task; doing it here, before this thread takes the next task,
            # makes the stop exact.
            try:
                prefect.Client().cancel_flow_run(prefect.context.get("flow_run_id"))
            except Exception as error:  # noqa: BLE001 - the plugin cancels too, only later
                self.logger.warning(f"could not cancel the flow run: {error}")
        raise signals.FAIL(message)


class BatchOrderExecutor(LocalDaskExecutor):
    """LocalDaskExecutor with threads, starting ready runs in batch order. dask picks among
    ready tasks by their keys, the greatest first; Prefect's keys are the task's name and a
    random suffix, so the runs would start in reverse name order."""

    def __init__(self, jobs, names):
        super().__init__(scheduler="threads", num_workers=jobs)
        self.ranks = {name: len(names) - index for index, name in enumerate(names)}

    def submit(self, fn, *args, extra_context=None, **kwargs):
        import dask

        rank = self.ranks.get((extra_context or {}).get("task_name"))
        if rank is None:
            return super().submit(fn, *args, extra_context=extra_context, **kwargs)
        key = f"sierra-{rank:09d}-{uuid.uuid4().hex}"
        return dask.delayed(fn, pure=False)(*args, **kwargs, dask_key_name=key)


def build_flow(spec_file):
    """The flow of one flow run: every run of the spec as an independent task, at most
    `jobs` at once (a thread pool of that size)."""
    with open(spec_file) as source:
        spec = json.load(source)
    settings = spec["settings"]
    flow = Flow(
        spec["name"],
        executor=BatchOrderExecutor(settings["jobs"], [run["id"] for run in spec["runs"]]),
        run_config=LocalRun(labels=spec["labels"], env=spec["flowEnv"], working_dir=spec["workingDir"]),
        storage=Local(path=spec["script"], stored_as_script=True, add_default_labels=False),
    )
    for run in spec["runs"]:
        flow.add_task(SierraRun(run, settings))
    return flow
