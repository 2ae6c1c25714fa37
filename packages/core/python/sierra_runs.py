"""Experimental runs as every execenv's Python side starts, reports and stops them: `bash -c
LINE` in a session of its own (its process group is stopped as a whole), with the contract's
working directory, environment and output files; its end as an exit code or the name bash
gives the signal; a stop as TERM, then KILL after a grace.

A run comes from the TypeScript side as JSON (core's runSpec):
  {"id": "<exp>/run<i>", "commandBase64": ..., "cwd": DIR, "env": {...}, "stdout": FILE, "stderr": FILE}
"commandBase64" is the cmdfile line's exact bytes, UTF-8 or not, in base64: plain ASCII, which
any JSON parser, HTTP API or database on the way keeps (Prefect's server refuses the lone
surrogates that would carry bytes that are not UTF-8 in a JSON string). "env" holds the
variables the run adds to the caller's environment; a null "stdout" or "stderr" is discarded.

Stdlib only, and Python 3.6+ without annotations: the slurm execenv runs it with whatever
python3 the nodes have. It lives in @sierra-exec/core's python/ directory, which each execenv
puts on its interpreter's sys.path (never in PYTHONPATH, which the runs would inherit), or
copies next to its own script.
"""

import base64
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

BASH = shutil.which("bash")
_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


def command_bytes(run):
    """The exact bytes of a run's command line, what `bash -c` runs."""
    return base64.b64decode(run["commandBase64"], validate=True)


def signal_name(number):
    """The name bash's `kill -l` gives a signal: SIGTERM, SIGRTMIN+1, SIGRTMAX-2; SIG<n> for a
    number it has no name for (32 and 33, glibc's own)."""
    low, high = getattr(signal, "SIGRTMIN", 0), getattr(signal, "SIGRTMAX", 0)
    if low < number < high:
        offset = number - low
        return f"SIGRTMIN+{offset}" if offset <= (high - low) // 2 else f"SIGRTMAX-{high - number}"
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def outcome(returncode):
    """(exit code, None), or (None, signal name) for a returncode that is minus a signal."""
    return (returncode, None) if returncode >= 0 else (None, signal_name(-returncode))


def not_started(error):
    """Why a run could not start (no bash, no working directory, an output file not writable)."""
    if isinstance(error, OSError):
        return f"could not start: {error.strerror or error}: {error.filename or 'bash'}"
    return f"could not start: {error}"


# Set by core's isolatedEnv in a helper's environment (a Prefect worker's, an agent's): the
# settings prefix to drop and the caller's values of what the execenv changed (null: unset).
RESTORE_ENV = "SIERRA_RESTORE_ENV"
RESTORE_ENV_FILE = "SIERRA_RESTORE_ENV_FILE"


@functools.lru_cache(maxsize=4)
def _read_restore_file(name):
    with open(name, encoding="utf-8") as source:
        return source.read()


def caller_env(extra):
    """The environment of a run started from a helper process: the caller's, with what the
    execenv isolated the helper from given back (RESTORE_ENV, or the file RESTORE_ENV_FILE
    names: a helper on another host gets it through the shared batch root, not through a
    server that would show it to others), plus the run's `extra`."""
    env = dict(os.environ)
    restore = env.pop(RESTORE_ENV, None)
    restore_file = env.pop(RESTORE_ENV_FILE, None)
    if restore is None and restore_file is not None:
        restore = _read_restore_file(restore_file)
    if restore is not None:
        restore = json.loads(restore)
        for key in [key for key in env if key.startswith(restore["prefix"])]:
            del env[key]
        for key, value in restore["caller"].items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
    env.update({str(key): str(value) for key, value in extra.items()})
    return env


def _argv(run):
    if BASH is None:
        raise FileNotFoundError(2, "No such file or directory", "bash")
    return [BASH, "-c", command_bytes(run)]


def _make_output_dirs(run):
    # stdout and stderr share their run's directory: one mkdir, not two.
    for directory in {os.path.dirname(run[name]) for name in ("stdout", "stderr") if run[name]}:
        try:
            os.mkdir(directory)
        except FileExistsError:
            pass
        except FileNotFoundError:
            os.makedirs(directory, exist_ok=True)


def spawn(run, env):
    """Starts a run from a process with a single thread (the local launcher) and returns its pid,
    also its process group's id; the caller reaps it (os.waitpid). `env` is the run's whole
    environment. posix_spawn (vfork and exec) costs about half of what a fork of Python does,
    but has no working-directory action: this changes the caller's directory, which is safe
    only where no other thread runs."""
    argv = _argv(run)
    _make_output_dirs(run)
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
    for fd, path in ((1, run["stdout"]), (2, run["stderr"])):
        actions.append((os.POSIX_SPAWN_OPEN, fd, path or os.devnull, _WRITE if path else os.O_WRONLY, 0o666))
    os.chdir(run["cwd"])
    # setsid: the run leads its own process group. An empty signal mask: whatever the caller
    # blocks (the launcher blocks SIGPIPE), runs start with none blocked.
    return os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True, setsigmask=set())


def popen(run, env):
    """Starts a run from a process with several threads (the Prefect flows), where changing the
    process's directory would move every thread: subprocess changes it in the child. `env` is
    the run's whole environment. Wait for it with `wait`."""
    argv = _argv(run)
    _make_output_dirs(run)
    outputs = [os.open(run[name] or os.devnull, _WRITE if run[name] else os.O_WRONLY, 0o666)
               for name in ("stdout", "stderr")]
    try:
        return subprocess.Popen(argv, cwd=run["cwd"], env=env, stdin=subprocess.DEVNULL, stdout=outputs[0],
                                stderr=outputs[1], start_new_session=True)
    finally:
        for fd in outputs:
            os.close(fd)


def signal_groups(groups, sig):
    for pgid in list(groups):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):  # gone, or its number reused by another user
            pass


def ended(pgid, returncode):
    """How a run ended (see `outcome`). What the run left behind in its group goes with it."""
    signal_groups([pgid], signal.SIGKILL)
    return outcome(returncode)


class Stop:
    """Stops process groups: TERM now, and at the deadline, `grace` seconds later, KILL to the
    groups still in `groups` (a fixed list, or a collection the caller keeps up to date)."""

    def __init__(self, groups, grace):
        self.groups = groups
        self.deadline = time.monotonic() + grace
        self.killed = False
        signal_groups(groups, signal.SIGTERM)

    def timeout(self):
        """Seconds until the KILL is due; None once it is sent."""
        return None if self.killed else max(0.0, self.deadline - time.monotonic())

    def poll(self):
        """Sends the KILL if it is due."""
        if not self.killed and time.monotonic() >= self.deadline:
            signal_groups(self.groups, signal.SIGKILL)
            self.killed = True

    def wait(self, done, step=0.02):
        """Returns once done() holds, sending the KILL when it is due meanwhile."""
        while not done():
            self.poll()
            time.sleep(step)


def wait(process, grace):
    """The returncode of a run started by `popen`. A KeyboardInterrupt raised in the waiting
    thread (Prefect 1 cancels a flow run so) stops the run, and the wait goes on, so that its
    end is still reported. The wait itself runs in a thread of its own: interrupted inside
    waitpid, Popen would lose the status and report 0; and an Event, not Thread.join, which
    an interrupt can leave believing that the thread has ended."""
    done = threading.Event()

    def waiter():
        process.wait()
        done.set()

    threading.Thread(target=waiter, daemon=True).start()
    stop = None
    while not done.is_set():
        try:
            if not done.wait(None if stop is None else stop.timeout()) and stop is not None:
                stop.poll()
        except KeyboardInterrupt:
            stop = stop or Stop([process.pid], grace)
    return process.returncode


def main():
    """`python3 sierra_runs.py`: one run, for execenvs written in Node (core's startRun), whose
    child_process can pass no bytes that are not UTF-8 in an argument and reports a run ended
    by a real-time signal as exit 0. Reads the run's spec plus "callerEnv" (the caller's whole
    environment) as one JSON line on stdin; writes one JSON line as the run starts,
    {"started": pid} (also its process group's id), or {"error": why} if it cannot, and one as
    it ends, {"code", "signal"}. What the run left in its group is KILLed with it."""
    spec = json.loads(sys.stdin.readline())
    env = dict(spec["callerEnv"])
    env.update(spec["env"])
    try:
        process = popen(spec, env)
    except OSError as error:
        print(json.dumps({"error": not_started(error)}), flush=True)
        return
    print(json.dumps({"started": process.pid}), flush=True)
    code, name = ended(process.pid, process.wait())
    print(json.dumps({"code": code, "signal": name}), flush=True)


if __name__ == "__main__":
    main()
