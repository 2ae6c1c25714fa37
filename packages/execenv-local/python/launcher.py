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
import signal
import shutil
import sys
import time

if sys.version_info < (3, 9):
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
# Python ignores SIGPIPE and SIGXFSZ, and we ignore SIGINT; ignored signals survive exec,
# so runs get the defaults back (as from a shell), or `yes | head` in a run never ends.
DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)


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


def make_parent(path):
    if path is None:
        return
    try:
        os.mkdir(os.path.dirname(path))
    except FileExistsError:
        pass
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)


def exec_run(spec, env):
    """In the forked child: becomes the run, leader of its own session and process group."""
    try:
        for sig in DEFAULT_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        os.setsid()
        os.chdir(spec["cwd"])
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        for fd, path in ((1, spec["stdout"]), (2, spec["stderr"])):
            os.dup2(os.open(path, WRITE, 0o644) if path else os.open(os.devnull, os.O_WRONLY), fd)
        os.execve(BASH, ["bash", "-c", spec["cmd"]], env)
    except BaseException as error:  # noqa: BLE001 - nothing may escape into the launcher's loop
        os.write(2, f"sierra launcher: could not start the run: {error}\n".encode())
    finally:
        os._exit(127)


def launch(spec):
    started = now_ms()
    try:
        # What can fail is checked here, where it can be reported as such: a plain fork
        # returns at once (the child execs on another core) but cannot say why it failed.
        if BASH is None:
            raise FileNotFoundError(2, "No such file or directory", "bash")
        if not os.path.isdir(spec["cwd"]):
            raise FileNotFoundError(2, "No such directory", spec["cwd"])
        make_parent(spec["stdout"])
        make_parent(spec["stderr"])
        env = BASE_ENV.copy()
        env.update(spec["env"])
        pid = os.fork()
    except OSError as error:
        emit({"ended": spec["run"], "code": None, "signal": None, "startedAt": started, "at": now_ms(),
              "error": f"could not start: {error.strerror or error}: {error.filename or 'bash'}"})
        if STRICT:
            stop()
        return
    if pid == 0:
        exec_run(spec, env)
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
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: stop())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the CLI decides; Ctrl-C reaches it, not us

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
