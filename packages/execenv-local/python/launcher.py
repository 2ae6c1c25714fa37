"""Run launcher of the local execenv: starts runs from a small process, which costs far
less per run than spawning from Node, and keeps at most JOBS of them running.

Protocol, one JSON object per line. In (stdin): a run {"run", "cmd", "cwd", "env",
"stdout", "stderr"}; {"end": true} when no more runs will come; {"stop": true} to stop.
Out (stdout): {"started", "pid", "at"} and {"ended", "code", "signal", "startedAt", "at"
[, "error"]}. EOF on stdin (the CLI died) or SIGTERM act as stop: no new run, TERM to
every run's process group, KILL after GRACE seconds.
"""
import collections
import json
import os
import selectors
import signal
import subprocess
import sys
import time

JOBS = int(sys.argv[1])
GRACE = float(sys.argv[2])

queue = collections.deque()
running = {}  # run id -> (Popen, started at ms)
stopping = False
kill_at = None
no_more_runs = False
out = sys.stdout


def now_ms():
    return int(time.time() * 1000)


def emit(message):
    out.write(json.dumps(message) + "\n")


def open_output(path):
    if path is None:
        return subprocess.DEVNULL
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return open(path, "wb")


def launch(spec):
    started = now_ms()
    files = []
    try:
        files = [open_output(spec["stdout"]), open_output(spec["stderr"])]
        process = subprocess.Popen(
            ["bash", "-c", spec["cmd"]],
            cwd=spec["cwd"],
            env={**os.environ, **spec["env"]},
            stdin=subprocess.DEVNULL,
            stdout=files[0],
            stderr=files[1],
            start_new_session=True,  # its own process group: stopped as a whole
        )
    except OSError as error:
        emit({"ended": spec["run"], "code": None, "signal": None, "startedAt": started, "at": now_ms(),
              "error": f"could not start: {error.strerror or error}: {error.filename or 'bash'}"})
        return
    finally:
        for f in files:
            if f is not subprocess.DEVNULL:
                f.close()
    running[spec["run"]] = (process, started)
    emit({"started": spec["run"], "pid": process.pid, "at": started})


def signal_groups(sig):
    for process, _ in running.values():
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass


def stop():
    global stopping, kill_at
    if stopping:
        return
    stopping = True
    queue.clear()
    signal_groups(signal.SIGTERM)
    kill_at = time.monotonic() + GRACE


def reap():
    for run_id, (process, started) in list(running.items()):
        code = process.poll()
        if code is None:
            continue
        del running[run_id]
        emit({"ended": run_id, "code": code if code >= 0 else None,
              "signal": signal.Signals(-code).name if code < 0 else None, "startedAt": started, "at": now_ms()})
        # Whatever the run left behind in its group goes with it.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main():
    global no_more_runs, kill_at
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
    while not ((no_more_runs or stopping) and not queue and not running):
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
                stop()
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if message.get("stop"):
                    stop()
                elif message.get("end"):
                    no_more_runs = True
                elif not stopping:
                    queue.append(message)
        reap()
        if kill_at is not None and time.monotonic() >= kill_at:
            signal_groups(signal.SIGKILL)
            kill_at = None
        while not stopping and queue and len(running) < JOBS:
            launch(queue.popleft())
        out.flush()


if __name__ == "__main__":
    main()
