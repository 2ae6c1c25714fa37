"""The Prefect 1 side of sierra-exec's prefect1.localagent execenv: builds the flow of a
batch from its spec file, with one task per experimental run.

The module is imported twice: by register.py, which registers the flow, and inside the
flow-run process that the agent starts, which executes the generated flow script again
(Local storage, stored as a script). Both build the flow from the same spec file, so
they see the same tasks, slugs and settings.
"""
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import prefect
from prefect import Flow, Task
from prefect.engine import signals
from prefect.executors import LocalDaskExecutor
from prefect.run_configs import LocalRun
from prefect.storage import Local

# A finished task's state message: this prefix and the run's outcome as JSON. The plugin
# reads outcomes from the backend's task-run states, not from any process it owns.
OUTCOME_PREFIX = "sierra-exec outcome: "
# Set by the plugin in the agent's environment (core's RESTORE_ENV): the settings prefix to
# drop and the caller's values of the variables it changed for isolation (null: unset), so
# that runs see the caller's environment.
RESTORE_ENV = "SIERRA_RESTORE_ENV"


def run_environment(extra):
    env = dict(os.environ)
    restore = env.pop(RESTORE_ENV, None)
    if restore is not None:
        restore = json.loads(restore)
        # Prefect's own settings (isolation, and what the agent adds) are not the caller's.
        for key in [key for key in env if key.startswith(restore["prefix"])]:
            del env[key]
        for key, value in restore["caller"].items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
    env.update(extra)
    return env


def now_ms():
    return int(time.time() * 1000)


def signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def open_output(path):
    if path is None:
        return subprocess.DEVNULL
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return open(path, "wb")


class SierraRun(Task):
    """One experimental run: `bash -c` with the contract's cwd, environment and output files,
    leading its own process group so that it can be stopped as a whole."""

    def __init__(self, spec, settings, **kwargs):
        self.spec = spec
        self.settings = settings
        super().__init__(name=spec["id"], slug=spec["slug"], **kwargs)

    def run(self):
        spec = self.spec
        pid_file = os.path.join(self.settings["pidDir"], spec["slug"])
        started = now_ms()
        try:
            stdout = open_output(spec["stdout"])
            stderr = open_output(spec["stderr"])
            try:
                process = subprocess.Popen(
                    ["bash", "-c", spec["command"]],
                    cwd=spec["cwd"],
                    env=run_environment(spec["env"]),
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,
                )
            finally:
                for stream in (stdout, stderr):
                    if stream is not subprocess.DEVNULL:
                        stream.close()
        except OSError as error:
            self.finish({"exitCode": None, "signal": None, "startedAt": started, "finishedAt": now_ms(),
                         "error": f"could not start: {error.strerror or error}: {error.filename or 'bash'}"})
        # The plugin stops runs by the process groups listed here (SIGINT, --exec-strict).
        with open(pid_file, "w") as out:
            out.write(str(process.pid))
        code = self.wait(process)
        try:
            os.unlink(pid_file)
        except FileNotFoundError:  # the plugin stopped the run and removed it already
            pass
        outcome = {"exitCode": code if code >= 0 else None, "signal": signal_name(-code) if code < 0 else None,
                   "startedAt": started, "finishedAt": now_ms(), "pid": process.pid}
        self.finish(outcome)

    def wait(self, process):
        # Cancelling a flow run raises KeyboardInterrupt in its worker threads. Prefect would
        # leave the command running; stop its group instead, and still report how it ended.
        # The wait itself runs in a thread of its own: interrupted inside waitpid, Popen would
        # lose the status and report 0.
        waiter = threading.Thread(target=process.wait, daemon=True)
        waiter.start()
        while True:
            try:
                waiter.join()
                return process.returncode
            except KeyboardInterrupt:
                stop_group(process, self.settings["killGrace"])

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


def stop_group(process, grace):
    def kill(sig):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass

    kill(signal.SIGTERM)
    timer = threading.Timer(grace, kill, [signal.SIGKILL])
    timer.daemon = True
    timer.start()


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
