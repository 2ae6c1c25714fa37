"""sierra-exec's execenvs as SIERRA execenv plugins.

SIERRA names a plugin after its directory (`<parent>.<dir>`) and loads every plugin it
finds at start-up. This one plugin stands for all of sierra-exec's execenvs: when the
`--execenv` SIERRA was given is no plugin SIERRA has (`local`, `prefect.localserver`,
`prefect1.localagent`, an installed third-party execenv), it asks the `sierra` command of
sierra-exec (the one beside this directory) to describe that execenv, and registers it
with SIERRA under that name: a cmdline module (SIERRA's stage-2 options plus the
execenv's own) and shell command generators whose exec command hands the batch
(per-batch) or the experiment (per-exp) to sierra-exec. SIERRA keeps running the
engine's hooks around it.
"""
import atexit
import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess
import sys
import types as pytypes
import importlib.util

import sierra.core.plugin as pm
from sierra.core import types
from sierra.core.experiment import bindings
from sierra.plugins.execenv import hpc

#: sierra-exec's command line, in the npm package this directory ships in.
CLI = pathlib.Path(__file__).resolve().parents[3] / "dist" / "bin.js"


def _cli() -> list:
    node = os.environ.get("SIERRA_EXEC_NODE") or shutil.which("node") or "node"
    return [node, os.environ.get("SIERRA_EXEC_CLI") or str(CLI)]


def _selected_execenv():
    """The --execenv SIERRA's bootstrap parser will see (it has not parsed yet)."""
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg == "--execenv" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--execenv="):
            return arg.split("=", 1)[1]
    return None


def _describe(name: str):
    """sierra-exec's description of execenv `name` (its options), or None if it has none."""
    try:
        done = subprocess.run(
            [*_cli(), "sierra-plugins", "--describe", name],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as error:
        sys.stderr.write(f"sierra-exec: cannot run {_cli()[0]}: {error}\n")
        return None
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return None
    return json.loads(done.stdout)


def _natural(name: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _exp_index(exp_input_root: pathlib.Path) -> int:
    """The experiment's position as sierra-exec's --exp-range counts (natural order)."""
    names = sorted(
        (d.name for d in exp_input_root.parent.iterdir() if (d / "commands.txt").exists()),
        key=_natural,
    )
    return names.index(exp_input_root.name)


def _cmdline_module(name: str, options: list) -> pytypes.ModuleType:
    """`<name>.cmdline`: SIERRA's HPC stage-2 options, then the execenv's own."""
    module = pytypes.ModuleType(f"{name}.cmdline")

    def build(parents, stages):
        cmdline = hpc.cmdline.HPCCmdline(parents, stages)
        if 2 not in stages:
            return cmdline
        taken = cmdline.parser._option_string_actions
        for i, option in enumerate(options):
            if option["flag"] in taken:
                continue
            kwargs = {"dest": f"sierra_exec_option_{i}", "help": option["description"]}
            if option["kind"] == "boolean":
                kwargs["action"] = "store_true"
            elif option.get("choices"):
                kwargs["choices"] = option["choices"]
            cmdline.stage2.add_argument(option["flag"], **kwargs)
        return cmdline

    def to_cmdopts(args):
        opts = hpc.cmdline.to_cmdopts(args)
        passed = []
        for i, option in enumerate(options):
            value = getattr(args, f"sierra_exec_option_{i}", None)
            if value is True:
                passed.append(option["flag"])
            elif value not in (None, False):
                passed += [option["flag"], str(value)]
        opts["sierra_exec_args"] = passed
        return opts

    module.build = build
    module.to_cmdopts = to_cmdopts
    return module


def _stage2_command(name: str, cmdopts: dict, batch_root, paradigm: str, exp_range) -> str:
    """The shell command that runs stage 2 on sierra-exec; records its status for our CLI."""
    args = [*_cli(), "--execenv", name, "--batch-root", str(batch_root)]
    args += ["--exec-parallelism-paradigm", paradigm]
    if cmdopts.get("exec_jobs_per_node"):
        args += ["--exec-jobs-per-node", str(cmdopts["exec_jobs_per_node"])]
    if exp_range:
        args += ["--exp-range", exp_range]
    for key in ("exec_resume", "exec_strict", "exec_devnull"):
        if cmdopts.get(key):
            args.append("--" + key.replace("_", "-"))
    if cmdopts.get("nodefile"):
        args += ["--nodefile", str(cmdopts["nodefile"])]
    args += cmdopts.get("sierra_exec_args", [])
    command = " ".join(shlex.quote(str(arg)) for arg in args)
    # SIERRA logs a failed stage-2 command and carries on (exit 0); our `sierra`, when it
    # runs SIERRA, reads the statuses back so that its own exit status stays ours.
    return (
        f"{command}; status=$?; "
        'if [ -n "$SIERRA_EXEC_STATUS_FILE" ]; then echo $status >> "$SIERRA_EXEC_STATUS_FILE"; fi; '
        "exit $status"
    )


def _execenv_module(name: str) -> pytypes.ModuleType:
    module = pytypes.ModuleType(name)

    class BatchShellCmdsGenerator(bindings.IBatchShellCmdsGenerator):
        def __init__(self, cmdopts) -> None:
            self.cmdopts = cmdopts

        def pre_batch_cmds(self):
            return []

        def exec_batch_cmds(self, exec_opts):
            cmd = _stage2_command(
                name, self.cmdopts, exec_opts["batch_root"], "per-batch", self.cmdopts.get("exp_range")
            )
            return [types.ShellCmdSpec(cmd=cmd, shell=True, wait=True)]

        def post_batch_cmds(self):
            return []

    class ExpShellCmdsGenerator(bindings.IExpShellCmdsGenerator):
        def __init__(self, cmdopts, exp_num) -> None:
            self.cmdopts = cmdopts

        def pre_exp_cmds(self):
            return []

        def exec_exp_cmds(self, exec_opts):
            exp = pathlib.Path(exec_opts["exp_input_root"])
            index = _exp_index(exp)
            cmd = _stage2_command(name, self.cmdopts, exp.parent.parent, "per-exp", f"{index}:{index}")
            return [types.ShellCmdSpec(cmd=cmd, shell=True, wait=True)]

        def post_exp_cmds(self):
            return []

    def execenv_check(cmdopts) -> None:
        node, cli = _cli()
        if not shutil.which(node) or not pathlib.Path(cli).exists():
            raise RuntimeError(f"--execenv={name}: sierra-exec needs Node.js ({node}) and its CLI ({cli})")

    module.BatchShellCmdsGenerator = BatchShellCmdsGenerator
    module.ExpShellCmdsGenerator = ExpShellCmdsGenerator
    module.execenv_check = execenv_check
    return module


def _exit_as_interrupted() -> None:
    """On Ctrl-C SIERRA returns without waiting for its stage-2 command and exits 0: wait
    for our stage 2 to stop its batch, then exit 130 as a shell would."""
    previous = signal.getsignal(signal.SIGINT)
    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(signum)
        if callable(previous):
            previous(signum, frame)
        raise KeyboardInterrupt

    def at_exit():
        if not interrupted:
            return
        import psutil

        psutil.wait_procs(psutil.Process().children(recursive=True), timeout=60)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)

    signal.signal(signal.SIGINT, on_sigint)
    atexit.register(at_exit)


def _register(name: str) -> None:
    described = _describe(name)
    if described is None:
        return
    module = _execenv_module(name)
    pm.pipeline.loaded[name] = {
        "spec": None,
        "parent_dir": pathlib.Path(__file__).resolve().parents[2],
        "module": module,
        "type": "pipeline",
    }
    # SIERRA imports `<name>.cmdline` by name (`__import__`, which also imports the
    # top-level package): put it in sys.modules, and a package for a top level that
    # Python does not have (`local`, `prefect1`; `prefect` is real).
    top = name.split(".")[0]
    if top != name and top not in sys.modules and importlib.util.find_spec(top) is None:
        sys.modules[top] = pytypes.ModuleType(top)
    sys.modules.setdefault(name, module)
    sys.modules[f"{name}.cmdline"] = _cmdline_module(name, described["options"])
    _exit_as_interrupted()


_name = _selected_execenv()
if _name and _name not in pm.pipeline.available_plugins() and _name not in pm.pipeline.loaded:
    _register(_name)
