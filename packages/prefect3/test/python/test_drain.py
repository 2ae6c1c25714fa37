"""python/drain.py on real processes: drains as plain processes (plain_drain.py) on one work
directory, each "host" named by SIERRA_DRAIN_HOSTNAME, the CLI's side played by the test."""

import base64
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
MARKER = f"drain-test-{os.getpid()}"


def alive(pid):
    """Is `pid` a live process (not a zombie)?"""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(condition, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class WorkDir:
    """The CLI's side of the work directory, as src/work-dir.ts writes it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="drain-test-")
        for sub in ("sets", "claims", "slots", "hosts", "events", "dead"):
            os.mkdir(os.path.join(self.dir, sub))
        self.sets = 0
        self.drains = []

    def write_set(self, commands, exp="e"):
        self.sets += 1
        n = self.sets
        os.mkdir(os.path.join(self.dir, "claims", str(n)))
        runs = [{"id": f"{exp}/run{i}", "commandBase64": base64.b64encode(command.encode()).decode(),
                 "cwd": self.dir, "env": {"SIERRA_EXEC_ID": MARKER}, "stdout": None, "stderr": None,
                 "seq": i + 1} for i, command in enumerate(commands)]
        path = os.path.join(self.dir, "sets", f"{n}.json")
        with open(f"{path}.tmp", "w", encoding="utf-8") as out:
            json.dump(runs, out)
        os.rename(f"{path}.tmp", path)
        return n

    def start(self, host, jobs=2, total=0, strict=False, env=None):
        drain = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "plain_drain.py"), self.dir, str(jobs), str(total),
             "1" if strict else "0", MARKER],
            env={**os.environ, "SIERRA_DRAIN_HOSTNAME": host, **(env or {})}, stdout=subprocess.PIPE, text=True)
        self.drains.append(drain)
        return drain

    def write(self, name, content=""):
        with open(os.path.join(self.dir, name), "w", encoding="utf-8") as out:
            out.write(content)

    def events(self):
        """Every event of every drain, each with the host of its drain."""
        found = []
        for file in glob.glob(os.path.join(self.dir, "events", "*.jsonl")):
            with open(file, encoding="utf-8") as source:
                lines = [json.loads(line) for line in source if line.strip()]
            host = lines[0]["host"] if lines else None
            found += [{**event, "_host": host, "_drain": os.path.basename(file)[:-6]} for event in lines]
        return found

    def of(self, kind):
        return [event for event in self.events() if kind in event]

    def hello(self, count):
        wait_for(lambda: len(self.of("drain")) >= count, f"{count} drains to say hello")

    def finish(self, drain, timeout=30):
        out, _ = drain.communicate(timeout=timeout)
        return json.loads(out)

    def cleanup(self):
        for drain in self.drains:
            if drain.poll() is None:
                drain.kill()
                drain.wait()
            drain.stdout.close()


def max_overlap(ended):
    points = sorted([(e["startedAt"], 1) for e in ended] + [(e["at"], -1) for e in ended],
                    key=lambda point: (point[0], point[1]))
    most = current = 0
    for _, step in points:
        current += step
        most = max(most, current)
    return most


class DrainTest(unittest.TestCase):
    def setUp(self):
        self.w = WorkDir()
        self.addCleanup(self.w.cleanup)

    def test_two_hosts_claim_disjoint_runs_and_finish_at_done(self):
        a, b = self.w.start("h1"), self.w.start("h2")
        self.w.hello(2)
        self.w.write_set(["sleep 0.2"] * 16)
        wait_for(lambda: len(self.w.of("ended")) == 16, "every run's end")
        self.w.write_set(["sleep 0.1", "exit 3"], exp="f")
        wait_for(lambda: len(self.w.of("ended")) == 18, "the second set's ends")
        self.w.write("done")
        results = [self.w.finish(a), self.w.finish(b)]
        ended = self.w.of("ended")
        labels = [event["ended"] for event in ended]
        self.assertEqual(sorted(labels), sorted({*labels}))  # none run twice
        self.assertEqual(len(labels), 18)
        self.assertEqual({event["_host"] for event in ended}, {"h1", "h2"})
        # Claims are exclusive and name the drain whose events hold the run.
        for event in ended:
            with open(os.path.join(self.w.dir, "claims", str(event["set"]), str(event["index"])),
                      encoding="utf-8") as claim:
                self.assertEqual(claim.read(), event["_drain"])
        # Set 2 started only after set 1 ended: sets are served in order.
        self.assertGreaterEqual(min(e["startedAt"] for e in ended if e["set"] == 2),
                                max(e["at"] for e in ended if e["set"] == 1))
        self.assertEqual(sorted(result["how"] for result in results), ["completed", "failed"])
        self.assertIn("f/run1", next(r["message"] for r in results if r["how"] == "failed"))
        self.assertEqual(len(self.w.of("bye")), 2)
        self.assertEqual(os.listdir(os.path.join(self.w.dir, "hosts")), [])

    def test_a_total_cap_holds_exactly_over_every_host(self):
        drains = [self.w.start(f"h{k}", jobs=2, total=3) for k in range(3)]
        self.w.hello(3)
        self.w.write_set(["sleep 0.3"] * 18)
        wait_for(lambda: len(self.w.of("ended")) == 18, "every run's end", timeout=60)
        self.w.write("done")
        for drain in drains:
            self.w.finish(drain)
        ended = self.w.of("ended")
        self.assertEqual(max_overlap(ended), 3)
        self.assertEqual(os.listdir(os.path.join(self.w.dir, "slots")), [])

    def test_a_second_drain_on_a_served_host_bounces(self):
        first = self.w.start("h1")
        self.w.hello(1)
        second = self.w.start("h1")
        result = self.w.finish(second, timeout=10)
        self.assertEqual(result["how"], "bounced")
        self.assertRegex(result["message"], r"^host h1 is already served by drain h1-\d+-")
        self.assertEqual(self.w.of("bounced")[0]["bounced"], "h1")
        # A host whose drain is gone (its pid dead) is taken over.
        first.kill()
        first.wait()
        third = self.w.start("h1")
        self.w.hello(3)
        self.w.write_set(["true"])
        wait_for(lambda: len(self.w.of("ended")) == 1, "the run")
        self.w.write("done")
        self.assertEqual(self.w.finish(third)["how"], "completed")

    def test_stop_ends_the_live_runs_and_starts_no_other(self):
        drain = self.w.start("h1", jobs=2)
        self.w.write_set(['trap "" TERM; sleep 30', "sleep 30", "true", "true"])
        wait_for(lambda: len(self.w.of("started")) == 2, "the runs to start")
        self.w.write("stop", "SIGINT")
        result = self.w.finish(drain)
        self.assertEqual(result["how"], "stopped")
        ends = sorted((e["ended"], e["signal"]) for e in self.w.of("ended"))
        self.assertEqual(ends, [("e/run0", "SIGKILL"), ("e/run1", "SIGTERM")])
        self.assertFalse(any(alive(e["pid"]) for e in self.w.of("started")))

    def test_strict_stops_every_drain_at_the_first_failure(self):
        a, b = self.w.start("h1", strict=True), self.w.start("h2", strict=True)
        self.w.hello(2)
        # Run 0 fails once all four runs the two drains can hold have started.
        self.w.write_set(["while [ ! -e go ]; do sleep 0.02; done; exit 5", "sleep 30", "sleep 30",
                          "sleep 30"] + ["true"] * 10)
        wait_for(lambda: len(self.w.of("started")) == 4, "four runs to start")
        self.w.write("go")
        results = [self.w.finish(a), self.w.finish(b)]
        self.assertEqual(sorted(r["how"] for r in results), ["stopped", "stopped"])
        ended = {e["ended"]: (e["code"], e["signal"], e.get("stopped")) for e in self.w.of("ended")}
        # The failed run is not marked stopped; the runs stopped because of it are.
        self.assertEqual(ended["e/run0"], (5, None, None))
        self.assertEqual({ended[f"e/run{i}"] for i in (1, 2, 3)}, {(None, "SIGTERM", True)})
        self.assertEqual(len(ended), 4)  # nothing started after the failure

    def test_a_drain_declared_dead_stops_its_runs_without_ends(self):
        drain = self.w.start("h1")
        self.w.write_set(["sleep 30", "sleep 30"])
        wait_for(lambda: len(self.w.of("started")) == 2, "the runs to start")
        me = self.w.of("drain")[0]["drain"]
        self.w.write(os.path.join("dead", me))
        result = self.w.finish(drain)
        self.assertEqual(result["how"], "dead")
        self.assertEqual(self.w.of("ended"), [])
        self.assertEqual(self.w.of("bye"), [])
        self.assertFalse(any(alive(e["pid"]) for e in self.w.of("started")))

    def test_a_drain_declared_dead_leaves_the_slots_the_cli_freed_alone(self):
        drain = self.w.start("h1", jobs=1, total=1)
        self.w.write_set(["sleep 30"])
        wait_for(lambda: len(self.w.of("started")) == 1, "the run to start")
        me = self.w.of("drain")[0]["drain"]
        # The CLI declares it dead and frees its slot; another drain takes the slot at once.
        self.w.write(os.path.join("dead", me))
        slot = os.path.join(self.w.dir, "slots", "0")
        os.unlink(slot)
        self.w.write(os.path.join("slots", "0"), "other")
        self.assertEqual(self.w.finish(drain)["how"], "dead")
        with open(slot, encoding="utf-8") as held:
            self.assertEqual(held.read(), "other")

    def test_a_drain_frees_only_a_slot_that_names_it(self):
        drain = self.w.start("h1", jobs=1, total=1)
        self.w.write_set(["sleep 1"])
        wait_for(lambda: len(self.w.of("started")) == 1, "the run to start")
        slot = os.path.join(self.w.dir, "slots", "0")
        os.unlink(slot)
        self.w.write(os.path.join("slots", "0"), "other")
        wait_for(lambda: len(self.w.of("ended")) == 1, "the run's end")
        self.w.write("done")
        self.assertEqual(self.w.finish(drain)["how"], "completed")
        with open(slot, encoding="utf-8") as held:
            self.assertEqual(held.read(), "other")

    def test_a_requeued_run_is_taken_again(self):
        drain = self.w.start("h1", jobs=1)
        self.w.write_set(["true", "true"])
        wait_for(lambda: len(self.w.of("ended")) == 2, "the runs")
        # The CLI re-queues run 1 (as for a drain it declared dead): its claim is set aside.
        claim = os.path.join(self.w.dir, "claims", "1", "1")
        os.rename(claim, f"{claim}.lost-x")
        wait_for(lambda: len(self.w.of("ended")) == 3, "the re-queued run to run again")
        self.w.write("done")
        self.w.finish(drain)
        self.assertEqual([e["index"] for e in self.w.of("ended")].count(1), 2)

    def test_kill_9_of_a_drain_leaves_no_run_its_watchdog_stops_them(self):
        drain = self.w.start("h1")
        self.w.write_set(['trap "" TERM; sleep 60 & sleep 60; wait', "sleep 60"])
        wait_for(lambda: len(self.w.of("started")) == 2, "the runs to start")
        pids = [e["pid"] for e in self.w.of("started")]
        drain.kill()
        drain.wait()
        # The grace is 1 s: TERM, then KILL for the run that ignores TERM.
        wait_for(lambda: not any(alive(pid) for pid in pids), "the runs to be stopped", timeout=15)
        wait_for(lambda: not self.marked(), "the sleeps the runs started to be stopped", timeout=15)

    def test_where_the_drains_host_runs_the_batchs_helpers_its_watchdog_stops_only_runs(self):
        # A helper of the batch (prefect.localserver's server) carries the marker too: it stays.
        helper = subprocess.Popen(["sleep", "60"], env={**os.environ, "SIERRA_EXEC_ID": MARKER})
        self.addCleanup(helper.wait)
        self.addCleanup(helper.kill)
        drain = self.w.start("h1", env={"SIERRA_EXEC_ID": MARKER})
        self.w.write_set(["sleep 60"])
        wait_for(lambda: len(self.w.of("started")) == 1, "the run to start")
        pid = self.w.of("started")[0]["pid"]
        watchdogs = [found for found in self.marked() if b"watchdog.py" in self.cmdline(found)]
        self.assertEqual(len(watchdogs), 1)
        drain.kill()
        drain.wait()
        wait_for(lambda: not alive(pid), "the run to be stopped", timeout=15)
        wait_for(lambda: not alive(watchdogs[0]), "the watchdog to be done", timeout=15)
        self.assertTrue(alive(helper.pid))

    @staticmethod
    def cmdline(pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                return cmdline.read()
        except OSError:
            return b""

    @staticmethod
    def marked():
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/environ", "rb") as environ:
                        if f"SIERRA_EXEC_ID={MARKER}".encode() in environ.read().split(b"\0") and alive(entry):
                            found.append(int(entry))
                except OSError:
                    pass
        return found


if __name__ == "__main__":
    unittest.main()
