"""Tests of python/sierra_runs.py against real processes (stdlib unittest; run by
sierra-runs.test.ts with core's python/ directory on the path)."""

import base64
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import sierra_runs

# Bytes that are not UTF-8 (a lone \xff, a Latin-1 \xe9, a truncated sequence), and some that are.
ODD_BYTES = b"\xff\xe9\xe2\x82 caf\xc3\xa9 \xf0\x9f\x98\x80"


def bash_signal_names():
    """What bash's `kill -l N` says for 1-64 (nothing for a number it has no name for)."""
    script = "for i in $(seq 1 64); do echo \"$i $(kill -l $i 2>/dev/null)\"; done"
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    return {int(number): name for number, _, name in (line.partition(" ") for line in out.splitlines())}


def alive(pid):
    """Whether `pid` runs (a zombie waiting for its reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Runs(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sierra-runs-")
        self.cwd = os.getcwd()

    def tearDown(self):
        os.chdir(self.cwd)

    def run_spec(self, command, name="run0", stdout=True):
        """A run as the TypeScript side sends it; `command` is str or bytes."""
        line = command if isinstance(command, bytes) else command.encode()
        out = os.path.join(self.dir, "scratch", name)
        return {
            "id": f"e/{name}",
            "commandBase64": base64.b64encode(line).decode(),
            "cwd": self.dir,
            "env": {},
            "stdout": os.path.join(out, "stdout") if stdout else None,
            "stderr": os.path.join(out, "stderr") if stdout else None,
        }

    def read(self, *parts):
        with open(os.path.join(self.dir, *parts), "rb") as source:
            return source.read()

    def spawn_and_wait(self, run, env=None):
        pid = sierra_runs.spawn(run, env or {"PATH": os.environ["PATH"]})
        _, status = os.waitpid(pid, 0)
        return pid, sierra_runs.ended(pid, os.waitstatus_to_exitcode(status))

    def popen_and_wait(self, run, env=None, grace=5.0):
        process = sierra_runs.popen(run, env or {"PATH": os.environ["PATH"]})
        return process.pid, sierra_runs.ended(process.pid, sierra_runs.wait(process, grace))

    def test_signal_names_are_bashs(self):
        for number, name in bash_signal_names().items():
            expected = f"SIG{name}" if name else f"SIG{number}"
            self.assertEqual(sierra_runs.signal_name(number), expected, number)
        self.assertEqual(sierra_runs.signal_name(35), "SIGRTMIN+1")
        self.assertEqual(sierra_runs.signal_name(63), "SIGRTMAX-1")

    def test_outcome(self):
        self.assertEqual(sierra_runs.outcome(0), (0, None))
        self.assertEqual(sierra_runs.outcome(3), (3, None))
        self.assertEqual(sierra_runs.outcome(-15), (None, "SIGTERM"))
        self.assertEqual(sierra_runs.outcome(-36), (None, "SIGRTMIN+2"))

    def test_command_bytes(self):
        self.assertEqual(sierra_runs.command_bytes(self.run_spec(ODD_BYTES)), ODD_BYTES)
        with self.assertRaises(ValueError):
            sierra_runs.command_bytes({"commandBase64": "not base64!"})

    def check_start(self, start):
        """A run gets its exact bytes, its cwd, exactly the environment given, its output files,
        /dev/null as stdin and a session of its own."""
        command = (
            b"printf '%s' '" + ODD_BYTES + b"' > bytes; pwd; env | sort; echo err >&2; "
            b"cut -d' ' -f1,5,6 /proc/$$/stat > ids; cat > stdin"
        )
        run = self.run_spec(command)
        pid, ended = start(run, {"PATH": os.environ["PATH"], "ONLY": "this"})
        self.assertEqual(ended, (0, None))
        self.assertEqual(self.read("bytes"), ODD_BYTES)
        lines = self.read("scratch", "run0", "stdout").decode().splitlines()
        self.assertEqual(lines[0], self.dir)
        names = {line.split("=", 1)[0] for line in lines[1:]}
        self.assertEqual(names - {"PWD", "SHLVL", "_"}, {"PATH", "ONLY"})
        self.assertEqual(self.read("scratch", "run0", "stderr"), b"err\n")
        self.assertEqual(self.read("ids").split(), [str(pid).encode()] * 3)
        self.assertEqual(self.read("stdin"), b"")

    @staticmethod
    def caller_env_in(helper, extra):
        """caller_env as a helper process whose environment is `helper` sees it."""
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(helper)
            return sierra_runs.caller_env(extra)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def test_caller_env_gives_back_what_the_helper_was_isolated_from(self):
        restore = {"prefix": "PREFECT_", "caller": {"PREFECT_API_URL": "http://mine", "HOME": "/home/u", "TMPDIR": None}}
        helper = {"PATH": "/bin", "HOME": "/batch/home", "TMPDIR": "/batch/tmp", "PREFECT_HOME": "/batch/p",
                  "PREFECT_API_URL": "http://127.0.0.1:1/api", sierra_runs.RESTORE_ENV: json.dumps(restore)}
        env = self.caller_env_in(helper, {"SIERRA_RUN": 3})
        self.assertEqual(env, {"PATH": "/bin", "HOME": "/home/u", "PREFECT_API_URL": "http://mine", "SIERRA_RUN": "3"})

    def test_caller_env_from_a_file_for_helpers_on_other_hosts(self):
        restore = {"prefix": "PREFECT_", "caller": {"HOME": "/home/u", "SIERRA_CORE_PYTHON": None}}
        file = os.path.join(self.dir, "caller-env.json")
        with open(file, "w", encoding="utf-8") as out:
            json.dump(restore, out)
        helper = {"PATH": "/bin", "HOME": "/w", "SIERRA_CORE_PYTHON": "/flow", "PREFECT_API_AUTH_STRING": "u:secret",
                  sierra_runs.RESTORE_ENV_FILE: file}
        env = self.caller_env_in(helper, {"SIERRA_RUN": 0})
        self.assertEqual(env, {"PATH": "/bin", "HOME": "/home/u", "SIERRA_RUN": "0"})

    def test_spawn(self):
        self.check_start(self.spawn_and_wait)

    def test_popen(self):
        self.check_start(self.popen_and_wait)

    def test_a_signal_without_a_python_name(self):
        for start in (self.spawn_and_wait, self.popen_and_wait):
            _, ended = start(self.run_spec("kill -35 $$", stdout=False))
            self.assertEqual(ended, (None, "SIGRTMIN+1"))

    def test_what_cannot_start(self):
        for start in (sierra_runs.spawn, sierra_runs.popen):
            run = {**self.run_spec("true"), "cwd": os.path.join(self.dir, "missing")}
            with self.assertRaises(OSError) as caught:
                start(run, {})
            self.assertEqual(
                sierra_runs.not_started(caught.exception),
                f"could not start: No such file or directory: {run['cwd']}",
            )

    def test_ended_stops_what_the_run_left_in_its_group(self):
        for start in (self.spawn_and_wait, self.popen_and_wait):
            run = self.run_spec("sleep 30 & echo $! > left", stdout=False)
            start(run)
            left = int(self.read("left"))
            deadline = time.monotonic() + 5
            while alive(left) and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertFalse(alive(left), "the run's child outlived it")

    def test_stop_terms_then_kills_after_the_grace(self):
        polite = sierra_runs.spawn(self.run_spec("sleep 30", "run0", False), {"PATH": os.environ["PATH"]})
        stubborn = sierra_runs.spawn(
            self.run_spec("trap '' TERM; touch trapped; sleep 30; true", "run1", False), {"PATH": os.environ["PATH"]}
        )
        while not os.path.exists(os.path.join(self.dir, "trapped")):
            time.sleep(0.01)
        running = {polite: "run0", stubborn: "run1"}
        ends = {}

        def reap():
            for pid in list(running):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    ends[running.pop(pid)] = time.monotonic()
            return not running

        began = time.monotonic()
        stop = sierra_runs.Stop(running, 0.5)
        self.assertLessEqual(stop.timeout(), 0.5)
        stop.wait(reap)
        self.assertTrue(stop.killed)
        self.assertIsNone(stop.timeout())
        self.assertLess(ends["run0"] - began, 0.5)
        self.assertGreaterEqual(ends["run1"] - began, 0.5)

    def test_an_interrupted_wait_stops_the_run_and_still_returns_its_end(self):
        process = sierra_runs.popen(self.run_spec("sleep 30", stdout=False), {"PATH": os.environ["PATH"]})
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        self.assertEqual(sierra_runs.outcome(sierra_runs.wait(process, 5.0)), (None, "SIGTERM"))

        stubborn = self.run_spec("trap '' TERM; sleep 30; true", stdout=False)
        process = sierra_runs.popen(stubborn, {"PATH": os.environ["PATH"]})
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        self.assertEqual(sierra_runs.outcome(sierra_runs.wait(process, 0.3)), (None, "SIGKILL"))


if __name__ == "__main__":
    unittest.main()
