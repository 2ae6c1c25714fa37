"""The drain: serves one host's share of a batch's runs from the work directory the CLI writes
(see DRAIN.md in the repository's notes and src/work-dir.ts), at most `jobs` at once, and at most
`total_jobs` at once over every drain of the batch when a cap is given.

The work directory W is the only channel to the CLI besides Prefect's API; on a cluster it is on
a shared filesystem, so everything here uses only create-exclusive, write-then-rename, rename,
unlink, listdir and whole reads of small files (safe on NFS):
  sets/<n>.json    the n-th set of runs, [core's runSpec + "seq"]; served in order
  claims/<n>/<i>   created exclusively by the drain that runs run i of set n
  slots/<k>        created exclusively before a claim when capped, unlinked after the run's end
  hosts/<host>     created exclusively by the drain serving that host; a second one bounces
  events/<id>.jsonl  this drain's own events: hello, started, ended, heartbeat, bounced, bye
  stop, done, dead/<id>  written by the CLI (stop also by a strict drain)

Stdlib only (plus core's sierra_runs): python/flow.py runs it as the Prefect flow `sierra`, with
each run a Prefect task; the tests run it as a plain process.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import sierra_runs

HEARTBEAT_S = 2.0
POLL_S = 0.05
# How often the open set's claims are listed again for runs the CLI re-queued.
RESCAN_S = 1.0
# Overrides the host name, so that tests can make two "hosts" on one machine.
HOSTNAME_ENV = "SIERRA_DRAIN_HOSTNAME"
WATCHDOG = os.path.join(os.path.dirname(os.path.abspath(sierra_runs.__file__)), "watchdog.py")


def hostname() -> str:
    return os.environ.get(HOSTNAME_ENV) or socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _create(path: str, content: str) -> bool:
    """Creates `path` exclusively with `content`; False if it exists. The content goes to a
    temporary file that is then linked to `path`: nobody ever sees `path` empty (a drain killed
    between an exclusive open and its write left an empty claim the batch waited for forever),
    and link is an exclusive create on NFS too."""
    temp = f"{path}.new-{os.getpid()}-{secrets.token_hex(3)}"
    with open(temp, "w", encoding="utf-8") as out:
        out.write(content)
    try:
        os.link(temp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(temp)


def _remove_if(path: str, content: str, tag: str) -> None:
    """Unlinks `path` if it still holds `content`. Set aside first, then checked, and put back if
    it is someone else's: a read then an unlink could remove what another drain just created."""
    aside = f"{path}.{tag}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if _read(aside) != content:
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
    os.unlink(aside)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as source:
            return source.read()
    except FileNotFoundError:
        return None


class RunFailed(Exception):
    """A run that did not exit 0 (its task is Failed)."""


class Drain:
    def __init__(self, work_dir: str, jobs: int, kill_grace_s: float, strict: bool, total_jobs: int,
                 execution_id: str, flow_run: str | None = None):
        self.w = work_dir
        self.jobs = max(1, jobs)
        self.grace = kill_grace_s
        self.strict = strict
        self.total = total_jobs
        self.execution_id = execution_id
        self.flow_run = flow_run
        self.host = hostname()
        self.id = f"{self.host}-{os.getpid()}-{secrets.token_hex(3)}"
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._live: dict[int, str] = {}  # pgid of each running run -> label
        self._stopped: set[int] = set()  # pgids of the runs stop_all stopped
        self._pending = 0  # claimed runs whose end is not written yet
        self._stopping = threading.Event()
        self._dead = threading.Event()
        self._finished = threading.Event()
        self._failed: list[str] = []
        self._served = 0
        self._sets: dict[int, list[dict[str, Any]]] = {}
        self._next: dict[int, int] = {}  # per set: every index below is known claimed
        self._requeued: dict[int, list[int]] = {}
        self._rescanned = 0.0
        self._watchdog: subprocess.Popen | None = None
        self._heartbeat: threading.Thread | None = None
        self._events = os.open(os.path.join(self.w, "events", f"{self.id}.jsonl"),
                               os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    # -- events ---------------------------------------------------------------------------
    def emit(self, event: dict[str, Any], sync: bool = False) -> None:
        # One whole line per write to a file only this drain appends to: the CLI never sees
        # two events interleaved, at most a torn last line that it keeps for later.
        line = (json.dumps(event) + "\n").encode()
        while line:  # a write may take part of it (a full disk, a signal)
            line = line[os.write(self._events, line):]
        if sync:  # on NFS, what the CLI must see (ends, liveness) leaves this host now
            os.fdatasync(self._events)

    def _heartbeats(self) -> None:
        while not self._dead.is_set():
            self.emit({"heartbeat": time.time()}, sync=True)
            if self._finished.wait(HEARTBEAT_S):
                return

    # -- the host -------------------------------------------------------------------------
    def _claim_host(self) -> str | None:
        """None once this drain serves the host, else the id of the live drain that does."""
        claim = os.path.join(self.w, "hosts", self.host)
        mine = json.dumps({"drain": self.id, "pid": os.getpid()})
        for _ in range(10):
            if _create(claim, mine):
                return None
            held = _read(claim)
            if held is None:
                continue
            try:
                holder = json.loads(held)
            except ValueError:  # being written: its holder is alive
                time.sleep(POLL_S)
                continue
            if _pid_alive(holder["pid"]):
                return holder["drain"]
            # Its holder is gone: remove its claim and take the host, unless another drain did
            # the same first (then the claim is that drain's: it stays).
            _remove_if(claim, held, f"gone-{self.id}")
        return "another drain"

    def _start_watchdog(self) -> None:
        """Core's watchdog, fed by a pipe only this drain holds: if the drain dies (kill -9), the
        pipe closes and the watchdog stops every run group of this drain. Where the drain's own
        environment carries the batch's marker, the batch's other helpers on this host do too
        (prefect.localserver's server and engine): then it stops the groups only; elsewhere it
        also sweeps what the runs left outside their groups."""
        marked = os.environ.get("SIERRA_EXEC_ID") == self.execution_id
        marker = "" if marked or not self.execution_id else self.execution_id
        self._watchdog = subprocess.Popen(
            [sys.executable, WATCHDOG, marker, str(self.grace)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def _tell_watchdog(self, line: str) -> None:
        assert self._watchdog is not None and self._watchdog.stdin is not None
        try:
            self._watchdog.stdin.write(f"{line}\n".encode())
            self._watchdog.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def _dismiss_watchdog(self) -> None:
        if self._watchdog is not None:
            self._tell_watchdog("dismiss")
            self._watchdog.stdin.close()
            self._watchdog.wait()

    # -- sets and claims ------------------------------------------------------------------
    def _read_sets(self) -> None:
        for name in os.listdir(os.path.join(self.w, "sets")):
            stem, _, ext = name.partition(".")
            if ext != "json" or not stem.isdigit() or int(stem) in self._sets:
                continue
            with open(os.path.join(self.w, "sets", name), encoding="utf-8") as source:
                self._sets[int(stem)] = json.load(source)
            self._next[int(stem)] = 0

    def _rescan(self) -> None:
        """Runs the CLI re-queued (their claims renamed aside) are claimable again. Only the
        newest set can have any: the CLI writes set n+1 once every run of set n has ended."""
        self._rescanned = time.monotonic()
        if not self._sets:
            return
        n = max(self._sets)
        claimed = {int(name) for name in os.listdir(os.path.join(self.w, "claims", str(n))) if name.isdigit()}
        self._requeued[n] = [i for i in range(self._next[n]) if i not in claimed]

    def _candidates(self, n: int):
        while self._requeued.get(n):
            yield self._requeued[n].pop(0)
        while self._next[n] < len(self._sets[n]):
            self._next[n] += 1
            yield self._next[n] - 1

    def _take_slot(self) -> str | None:
        for k in range(self.total):
            slot = os.path.join(self.w, "slots", str(k))
            if _create(slot, self.id):
                return slot
        return None

    def _claim(self) -> tuple[int, int, dict[str, Any], str | None] | None:
        """The next run this drain takes (set, index, spec, slot), or None."""
        slot = None
        for n in sorted(self._sets):
            for i in self._candidates(n):
                if self.total and slot is None:
                    slot = self._take_slot()
                    if slot is None:  # every slot taken: try again at the next poll
                        self._requeued.setdefault(n, []).insert(0, i)
                        return None
                if _create(os.path.join(self.w, "claims", str(n), str(i)), self.id):
                    return n, i, self._sets[n][i], slot
        if slot is not None:
            self._release(slot)
        return None

    def _release(self, slot: str) -> None:
        """Frees this drain's slot, unless this drain was declared dead (the CLI freed its slots,
        another drain may hold this one now) or the slot names another drain."""
        if self._dead.is_set() or os.path.exists(os.path.join(self.w, "dead", self.id)):
            return
        _remove_if(slot, self.id, f"free-{self.id}")

    # -- runs -----------------------------------------------------------------------------
    def run(self, n: int, i: int, spec: dict[str, Any], slot: str | None) -> None:
        """Executes run i of set n (in a worker thread) and writes its start and end; raises
        RunFailed if it did not exit 0."""
        label = spec["id"]
        try:
            ended = self._execute(n, i, spec)
            if ended is not None and ended[0] != 0:
                self._failed.append(label)
                if self.strict and not self._stopping.is_set():
                    # Before this run's slot is free: no other run starts here. The other
                    # drains stop at `stop`; this one stops its own runs at its next poll.
                    self._stopping.set()
                    _create(os.path.join(self.w, "stop"), f"strict: {label} failed")
        finally:
            if slot is not None:
                self._release(slot)
            with self._changed:
                self._pending -= 1
                self._changed.notify_all()
        if ended is None:
            raise RunFailed(f"{label}: not started, the batch is stopping")
        code, sig, error = ended
        if code != 0:
            how = error or (f"exit code {code}" if sig is None else f"signal {sig}")
            raise RunFailed(f"{label}: {how}")

    def _execute(self, n: int, i: int, spec: dict[str, Any]):
        """(code, signal, error) of the run, or None if it was not started because the batch
        is stopping. A dead drain writes no end: its runs are the CLI's to re-run."""
        label = spec["id"]
        where = {"set": n, "index": i}
        started = time.time()
        try:
            with self._lock:  # a stop either sees this run in _live or keeps it from starting
                if self._stopping.is_set():
                    return None
                proc = sierra_runs.popen(spec, sierra_runs.caller_env(spec["env"]))
                self._live[proc.pid] = label
                self._tell_watchdog(f"group {proc.pid}")
        except (OSError, ValueError) as error:
            why = sierra_runs.not_started(error)
            if not self._dead.is_set():
                self.emit({"ended": label, **where, "code": None, "signal": None, "startedAt": started,
                           "at": time.time(), "error": why}, sync=True)
            return None, None, why
        self.emit({"started": label, **where, "pid": proc.pid, "at": started})
        code, sig = sierra_runs.ended(proc.pid, sierra_runs.wait(proc, self.grace))
        if not self._dead.is_set():
            # Marked when this drain stopped it: the CLI takes the runs that failed of their own
            # before those stopped because of them (strict blames the first).
            stopped = {"stopped": True} if proc.pid in self._stopped else {}
            self.emit({"ended": label, **where, "code": code, "signal": sig, "startedAt": started,
                       "at": time.time(), **stopped}, sync=True)
        with self._lock:  # after the end is written: a stop returns once _live is empty
            del self._live[proc.pid]
            self._tell_watchdog(f"release {proc.pid}")
        return code, sig, None

    def stop_all(self) -> None:
        """No new run; TERM every live run group, KILL after the grace; returns once every
        stopped run's end is written."""
        self._stopping.set()
        with self._lock:
            groups = list(self._live)
            self._stopped.update(groups)
        sierra_runs.Stop(groups, self.grace).wait(lambda: not self._live)

    # -- the loop -------------------------------------------------------------------------
    def serve(self, submit: Callable[[int, int, dict[str, Any], str | None], Any]) -> tuple[str, str]:
        """Serves runs until the CLI writes `done` (once nothing is left) or `stop`, or declares
        this drain dead. `submit(n, i, spec, slot)` must call `self.run(n, i, spec, slot)` in
        a thread of its own. Returns (how it ended, a message): "bounced", "stopped", "dead",
        "failed" or "completed"."""
        self.emit({"drain": self.id, "host": self.host, "pid": os.getpid(), "flowRun": self.flow_run,
                   "at": time.time()})
        holder = self._claim_host()
        if holder is not None:
            self.emit({"bounced": self.host})
            os.close(self._events)
            return "bounced", f"host {self.host} is already served by drain {holder}"
        self._start_watchdog()
        self._heartbeat = threading.Thread(target=self._heartbeats, daemon=True)
        self._heartbeat.start()
        try:
            how = self._dispatch(submit)
        except BaseException:  # Prefect's TerminationSignal on a cancel, KeyboardInterrupt
            self.stop_all()
            self._end()
            raise
        self._end()
        if how == "dead":
            return how, f"declared dead by sierra ({self._served} runs served)"
        if how == "stopped":
            return how, f"stopped by sierra ({self._served} runs served)"
        if self._failed:
            return "failed", (f"{len(self._failed)}/{self._served} runs failed: "
                              f"{', '.join(self._failed[:20])}")
        return "completed", f"{self._served} runs completed"

    def _dispatch(self, submit) -> str:
        w = self.w
        dead = os.path.join(w, "dead", self.id)
        while True:
            if os.path.exists(dead):
                self._dead.set()
                self.stop_all()
                return "dead"
            if os.path.exists(os.path.join(w, "stop")):
                self.stop_all()
                return "stopped"
            done = os.path.exists(os.path.join(w, "done"))
            self._read_sets()
            if time.monotonic() - self._rescanned > RESCAN_S:
                self._rescan()
            while self._pending < self.jobs and not self._stopping.is_set():
                claim = self._claim()
                if claim is None:
                    break
                with self._lock:
                    self._pending += 1
                self._served += 1
                submit(*claim)
            with self._changed:
                if done and self._pending == 0:
                    return "done"
                self._changed.wait(POLL_S)

    def _end(self) -> None:
        self._finished.set()
        # Before the events file is closed: a heartbeat after it would write to a closed (or
        # reused) fd.
        if self._heartbeat is not None:
            self._heartbeat.join()
        claim = os.path.join(self.w, "hosts", self.host)
        held = _read(claim)
        if held is not None and json.loads(held).get("drain") == self.id:
            os.unlink(claim)
        self._dismiss_watchdog()
        if not self._dead.is_set():
            self.emit({"bye": time.time()}, sync=True)
        os.close(self._events)
