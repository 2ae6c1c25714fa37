"""Run launcher of the local execenv: starts runs from a small process, which costs far
less per run than spawning from Node, and keeps at most JOBS of them running.

Protocol, one JSON object per line. Out (stdout): first {"ready": version}, then
{"started", "pid", "at"}, {"ended", "code", "signal", "startedAt", "at" [, "error"]} and
{"dropped": [run ids]} for runs a stop left unstarted.
In (stdin): a run {"run", "cmd", "cwd", "env", "stdout", "stderr"}; {"stop": true} to
stop: no new run, TERM to every run's process group, KILL after GRACE seconds;
{"quit": true} to exit once nothing runs. EOF on stdin (the CLI died) or SIGTERM: stop,
then exit. Usage: launcher.py JOBS GRACE strict|lenient.
"""
import collections
import json
import os
import selectors
import shutil
import signal
import sys
import time

if sys.version_info < (3, 9):  # noqa: UP036 - the python3 a user passes may be older: say so in one line
    sys.exit(f"the run launcher needs Python 3.9+, not {sys.version.split()[0]}")

JOBS = int(sys.argv[1])
GRACE = float(sys.argv[2])
# With --exec-strict a failed run stops the batch here, before its freed slot is refilled.
STRICT = sys.argv[3] == "strict"

queue = collections.deque()
running = {}  # pid -> (run id, started at ms); the pid is also the run's process group
stopping = False
kill_at = None
leaving = False  # told to quit, or the CLI is gone
outbox = []  # messages for the CLI, written once per loop turn
cli_gone = False
BASH = shutil.which("bash")
BASE_ENV = dict(os.environ)
WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


def now_ms():
    return int(time.time() * 1000)


def emit(message):
    outbox.append(json.dumps(message) + "\n")


def flush():
    """Writes the outbox. A CLI that is gone must not keep the launcher from stopping runs."""
    global cli_gone
    if outbox and not cli_gone:
        data = "".join(outbox).encode()
        try:
            while data:
                data = data[os.write(1, data):]
        except OSError:
            cli_gone = True
    outbox.clear()


def make_dir(path):
    try:
        os.mkdir(path)
    except FileExistsError:
        pass
    except FileNotFoundError:
        os.makedirs(path, exist_ok=True)


def redirect(fd, path):
    if path is None:
        return (os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0)
    return (os.POSIX_SPAWN_OPEN, fd, path, WRITE, 0o644)


def launch(spec):
    started = now_ms()
    try:
        if BASH is None:
            raise FileNotFoundError(2, "No such file or directory", "bash")
        # stdout and stderr share their run's directory: one mkdir, not two.
        for directory in {os.path.dirname(path) for path in (spec["stdout"], spec["stderr"]) if path}:
            make_dir(directory)
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            redirect(1, spec["stdout"]),
            redirect(2, spec["stderr"]),
        ]
        # posix_spawn has no working-directory action: the launcher is single-threaded,
        # so changing its own directory just before the spawn is safe.
        os.chdir(spec["cwd"])
        env = BASE_ENV.copy()
        env.update(spec["env"])
        # posix_spawn (vfork and exec) costs the launcher about half of what a fork of
        # Python does. setsid: the run leads its own process group, stopped as a whole.
        # An empty mask: the launcher blocks SIGPIPE, runs must not (see main).
        pid = os.posix_spawn(
            BASH, ["bash", "-c", spec["cmd"]], env, file_actions=actions, setsid=True, setsigmask=set()
        )
    except OSError as error:
        emit({"ended": spec["run"], "code": None, "signal": None, "startedAt": started, "at": now_ms(),
              "error": f"could not start: {error.strerror or error}: {error.filename or 'bash'}"})
        if STRICT:
            stop()
        return
    running[pid] = (spec["run"], started)
    emit({"started": spec["run"], "pid": pid, "at": started})


def signal_groups(sig):
    for pid in running:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass


def stop():
    global stopping, kill_at
    if stopping:
        return
    stopping = True
    emit({"dropped": [spec["run"] for spec in queue]})
    queue.clear()
    signal_groups(signal.SIGTERM)
    kill_at = time.monotonic() + GRACE


def reap():
    while running:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid not in running:
            continue
        run_id, started = running.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        if STRICT and code != 0:
            stop()
        emit({"ended": run_id, "code": code if code >= 0 else None,
              "signal": signal.Signals(-code).name if code < 0 else None, "startedAt": started, "at": now_ms()})
        # Whatever the run left behind in its group goes with it.
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main():
    global leaving, kill_at
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    # Runs inherit ignored signals across exec, caught ones come back as defaults. So
    # nothing is ignored here: Python's SIGPIPE and SIGXFSZ go back to their defaults, and
    # SIGPIPE is blocked instead, so that writing to a CLI that is gone fails with EPIPE.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
    signal.signal(signal.SIGCHLD, lambda *_: None)
    # The launcher leads its own process group, so Ctrl-C does not reach it; a SIGINT or
    # SIGTERM sent on purpose stops the runs.
    signal.signal(signal.SIGTERM, lambda *_: stop())
    signal.signal(signal.SIGINT, lambda *_: stop())

    selector = selectors.DefaultSelector()
    stdin = sys.stdin.fileno()
    selector.register(stdin, selectors.EVENT_READ, "in")
    selector.register(wake_r, selectors.EVENT_READ, "wake")
    pending = b""
    emit({"ready": sys.version.split()[0]})
    flush()
    while not (leaving and not running):
        timeout = None if kill_at is None else max(0.0, kill_at - time.monotonic())
        for key, _ in selector.select(timeout):
            if key.data == "wake":
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                continue
            chunk = os.read(stdin, 1 << 16)
            if not chunk:
                selector.unregister(stdin)
                leaving = True
                stop()
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if message.get("stop"):
                    stop()
                elif message.get("quit"):
                    leaving = True
                elif stopping:
                    emit({"dropped": [message["run"]]})
                else:
                    queue.append(message)
        reap()
        if kill_at is not None and time.monotonic() >= kill_at:
            signal_groups(signal.SIGKILL)
            kill_at = None
        while not stopping and queue and len(running) < JOBS:
            launch(queue.popleft())
        flush()


if __name__ == "__main__":
    main()
