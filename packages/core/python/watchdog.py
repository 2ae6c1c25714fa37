"""Watchdog of a batch: if the sierra CLI dies without cleaning up (kill -9, OOM), stops
what the batch started in process groups of its own (servers, workers, agents, runs).

Reads lines on stdin: "group PGID" (a process group to stop, the last named stopped first),
"release PGID" (that group ended: forget it),
"exec JSON-ARGV" (a command to run, e.g. scancel of a batch's cluster jobs, the last named
run first) and "dismiss" (the CLI cleaned up itself: exit). At EOF, the CLI is gone: run
each command, TERM each group, KILL it after GRACE seconds, then every process whose
environment carries SIERRA_EXEC_ID=MARKER (none with an empty MARKER: a Prefect drain whose
host also runs the batch's helpers stops its run groups only). Usage: watchdog.py MARKER GRACE
"""
import json
import os
import signal
import subprocess
import sys
import time

# This file's directory, for sierra_runs, even where PYTHONSAFEPATH leaves it off the path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sierra_runs

MARKER = f"SIERRA_EXEC_ID={sys.argv[1]}".encode() if sys.argv[1] else None
GRACE = float(sys.argv[2])


def alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def stop_group(pgid):
    stop = sierra_runs.Stop([pgid], GRACE)
    stop.wait(lambda: stop.killed or not alive(pgid), step=0.05)


def netns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def marked():
    """This host's processes carrying the marker: a host is a network namespace, so that hosts
    made of namespaces on one machine (the tests' worker hosts) leave each other's runs alone."""
    pids = []
    if MARKER is None:
        return pids
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids  # no procfs: the groups were all there is to stop
    here = netns("self")
    for entry in entries:
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if MARKER in environ.read().split(b"\0") and netns(entry) == here:
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the CLI's to handle
    groups = []
    commands = []
    for line in sys.stdin:
        word, _, value = line.strip().partition(" ")
        if word == "dismiss":
            return
        if word == "group":
            groups.append(int(value))
        elif word == "release" and int(value) in groups:
            groups.remove(int(value))
        elif word == "exec":
            commands.append(json.loads(value))
    for argv in reversed(commands):
        try:
            subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        except (OSError, subprocess.SubprocessError):
            pass
    for pgid in reversed(groups):
        stop_group(pgid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in marked():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + GRACE
        while marked() and time.monotonic() < deadline:
            time.sleep(0.1)


if __name__ == "__main__":
    main()
