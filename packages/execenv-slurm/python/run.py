"""One experimental run on a Slurm node, as an array task (jobs mode) or a job step (steps
mode): runs `bash -c` in a session of its own and writes where and how it ran to files in the
batch's state directory, which the CLI reads. Python 3.6+, standard library only: it runs
with whatever python3 the nodes have.

Files (STATE is shared by the CLI's host and the nodes): STATE/<seq>.start {"host", "at",
"job", "step"} when the run starts; STATE/<seq>.end {"code", "signal", "startedAt", "at",
"host"[, "error"]} when it ends, written whole (rename). A run that fails under
--exec-strict creates STATE/stop first, and no run starts once STATE/stop exists: Slurm
starts the next array task only after this one ends, so strict stops before any new run.

Stopping: SIGTERM (scancel), or EOF on stdin in steps mode (the CLI closed its pipe or
died): TERM to the run's process group, KILL after GRACE seconds.
Usage: run.py MANIFEST INDEX|array STATE GRACE strict|lenient steps|jobs
"""
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

MANIFEST, INDEX, STATE, GRACE, STRICT, MODE = sys.argv[1:7]
GRACE = float(GRACE)
STOP_FILE = os.path.join(STATE, "stop")
HOST = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
stopping = False


def now_ms():
    return int(time.time() * 1000)


def write_whole(path, message):
    temporary = f"{path}.{os.getpid()}.tmp"
    # No fsync: the rename makes the file whole for readers on other hosts; a node that
    # crashes takes its job with it, and Slurm's job state says so.
    with open(temporary, "w") as out:
        json.dump(message, out)
    os.rename(temporary, path)


def stdin_closed():
    """Steps mode: the CLI holds our stdin open through srun; EOF means stop."""
    if MODE != "steps":
        return False
    readable, _, _ = select.select([0], [], [], 0)
    return bool(readable) and os.read(0, 4096) == b""


def on_term(*_):
    global stopping
    stopping = True


def spec_at(index):
    with open(MANIFEST) as manifest:
        for number, line in enumerate(manifest):
            if number == index:
                return json.loads(line)
    raise SystemExit(f"run.py: no run {index} in {MANIFEST}")


def open_output(path):
    if path is None:
        return open(os.devnull, "wb")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return open(path, "wb")


def main():
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    index = int(os.environ["SLURM_ARRAY_TASK_ID"] if INDEX == "array" else INDEX)
    spec = spec_at(index)
    if os.path.exists(STOP_FILE) or stdin_closed() or stopping:
        return 0  # the batch is stopping: this run never starts
    seq = spec["seq"]
    started = now_ms()
    env = dict(os.environ)
    env.update(spec["env"])
    write_whole(os.path.join(STATE, f"{seq}.start"), {
        "host": HOST, "at": started, "job": os.environ.get("SLURM_JOB_ID"),
        "step": os.environ.get("SLURM_STEP_ID")})
    end = {"host": HOST, "startedAt": started, "code": None, "signal": None}
    try:
        with open_output(spec["stdout"]) as out, open_output(spec["stderr"]) as err:
            child = subprocess.Popen(["bash", "-c", spec["cmd"]], cwd=spec["cwd"], env=env,
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                     start_new_session=True)
    except OSError as error:
        end.update(at=now_ms(), error=f"could not start: {error.strerror or error}: {error.filename or 'bash'}")
        return finish(seq, end)
    kill_at = None
    watch = [0] if MODE == "steps" else []
    while child.poll() is None:
        if not stopping and watch:
            readable, _, _ = select.select(watch, [], [], 0.1)
            if readable and os.read(0, 4096) == b"":
                on_term()
        else:
            time.sleep(0.05)
        if stopping and kill_at is None:
            signal_group(child.pid, signal.SIGTERM)
            kill_at = time.monotonic() + GRACE
        if kill_at is not None and time.monotonic() >= kill_at:
            signal_group(child.pid, signal.SIGKILL)
    signal_group(child.pid, signal.SIGKILL)  # what the run left in its group goes with it
    code = child.returncode
    end.update(at=now_ms(), code=code if code >= 0 else None,
               signal=signal_name(-code) if code < 0 else None)
    return finish(seq, end)


def signal_name(number):
    if signal.SIGRTMIN < number < signal.SIGRTMAX:
        return f"SIGRTMIN+{number - signal.SIGRTMIN}"
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def finish(seq, end):
    failed = end["code"] != 0
    if failed and STRICT == "strict":
        open(STOP_FILE, "a").close()
    write_whole(os.path.join(STATE, f"{seq}.end"), end)
    # The job's own state tells cluster tools (sacct, squeue) whether the run failed.
    return 0 if not failed else (end["code"] if end["code"] else 1)


if __name__ == "__main__":
    sys.exit(main())
