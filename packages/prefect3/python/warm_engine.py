# `python warm_engine.py -m prefect.engine` is `python -m prefect.engine` (its command line reads
# as one, for ps and pgrep) started before its flow run exists: it imports what the engine and the
# drain flow (flow.py) need, about 1.5 s, while the batch's server boots, then reads the flow run's
# id from stdin and runs Prefect's own engine on it, unchanged (its flow loading with the
# deployment's pull steps, its signal handling, its states). End of input before an id: exit 0,
# nothing run (the batch ended before it needed this engine).
import atexit
import importlib
import os
import runpy
import sys
import threading
import warnings

# The slow part, done while the server boots: prefect.engine's own imports, the pull steps and
# what flow.py imports (drain.py from this file's directory, which is on the path, and core's
# sierra_runs). flow.py itself is not imported: Prefect loads it anew from the deployment.
sys.path.insert(0, os.environ["SIERRA_CORE_PYTHON"])
for module in ("prefect.flow_engine", "prefect._internal.metrics", "prefect.deployments.steps.core",
               "prefect.deployments.steps.pull", "prefect.runtime", "prefect.states", "prefect.task_runners",
               "prefect.cache_policies", "drain"):
    importlib.import_module(module)

flow_run_id = sys.stdin.readline().strip()
if not flow_run_id:
    sys.exit(0)
# The runs must not inherit the CLI's pipe.
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
os.environ["PREFECT__FLOW_RUN_ID"] = flow_run_id
sys.argv = sys.argv[:1]
# prefect.flow_engine imported prefect.engine above; running it as __main__ is what -m does.
warnings.filterwarnings("ignore", message=".*found in sys.modules", category=RuntimeWarning)
try:
    runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)
    status = 0
except SystemExit as ended:
    if isinstance(ended.code, str):
        print(ended.code, file=sys.stderr)
    status = ended.code if isinstance(ended.code, int) else int(ended.code is not None)
# Python's own exit, without the interpreter's teardown of every module (about 1 s with Prefect
# loaded, while the batch waits for this engine to end): first what Python's shutdown does first
# (join non-daemon threads, then the hooks of threading._register_atexit, where Prefect's events
# and logs services flush what they still hold), then the exit handlers (logging's among them).
threading._shutdown()
atexit._run_exitfuncs()
sys.stdout.flush()
sys.stderr.flush()
os._exit(status)
