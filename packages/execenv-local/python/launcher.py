"""Run launcher of the local execenv: starts runs from a small process, which costs far
less per run than spawning from Node, and keeps at most JOBS of them running.

Protocol, one JSON object per line. Out (stdout): first {"ready": version}, then
{"started", "pid", "at"}, {"ended", "code", "signal", "startedAt", "at" [, "error"]} and
{"dropped": [run ids]} for runs a stop left unstarted.
In (stdin): first {"caller": {...}}, the environment runs add theirs to (the launcher's own
may differ: a pyenv shim that starts it adds its variables); then a run as core's
sierra_runs.py reads it (id, commandBase64, cwd, env, stdout, stderr);
{"stop": true} to stop: no new run, TERM to every run's process group, KILL after GRACE
seconds; {"quit": true} to exit once nothing runs. EOF on stdin (the CLI died) or SIGTERM:
stop, then exit. Usage: launcher.py CORE_PYTHON_DIR JOBS GRACE strict|lenient.
"""
import collections
import json
import os
import selectors
import signal
import sys
import time

if sys.version_info < (3, 9):  # noqa: UP036 - the python3 a user passes may be older: say so in one line
    sys.exit(f"the run launcher needs Python 3.9+, not {sys.version.split()[0]}")

sys.path.insert(0, sys.argv[1])
import sierra_runs  # from core's directory, put on the path just above

JOBS = int(sys.argv[2])
GRACE = float(sys.argv[3])
# With --exec-strict a failed run stops the batch here, before its freed slot is refilled.
STRICT = sys.argv[4] == "strict"

queue = collections.deque()
running = {}  # pid -> (run id, started at ms); the pid is also the run's process group
stopping = None  # a sierra_runs.Stop once stopping
leaving = False  # told to quit, or the CLI is gone
outbox = []  # messages for the CLI, written once per loop turn
cli_gone = False
caller_env = {}  # the first message's


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


def launch(spec):
    started = now_ms()
    try:
        pid = sierra_runs.spawn(spec, {**caller_env, **spec["env"]})
    except (OSError, ValueError) as error:
        emit({"ended": spec["id"], "code": None, "signal": None, "startedAt": started, "at": now_ms(),
              "error": sierra_runs.not_started(error)})
        if STRICT:
            stop()
        return
    running[pid] = (spec["id"], started)
    emit({"started": spec["id"], "pid": pid, "at": started})


def stop():
    global stopping
    if stopping:
        return
    stopping = sierra_runs.Stop(running, GRACE)
    emit({"dropped": [spec["id"] for spec in queue]})
    queue.clear()


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
        code, sig = sierra_runs.ended(pid, os.waitstatus_to_exitcode(status))
        if STRICT and code != 0:
            stop()
        emit({"ended": run_id, "code": code, "signal": sig, "startedAt": started, "at": now_ms()})


def main():
    global leaving
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
        timeout = stopping.timeout() if stopping else None
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
                if "caller" in message:
                    caller_env.update(message["caller"])
                elif message.get("stop"):
                    stop()
                elif message.get("quit"):
                    leaving = True
                elif stopping:
                    emit({"dropped": [message["id"]]})
                else:
                    queue.append(message)
        reap()
        if stopping:
            stopping.poll()
        while not stopping and queue and len(running) < JOBS:
            launch(queue.popleft())
        flush()


if __name__ == "__main__":
    main()
