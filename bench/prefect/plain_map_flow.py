"""The plain-Prefect way: a Python flow that maps one task per command over a thread pool of
JOBS workers, run with `python plain_map_flow.py CMDFILE JOBS` (Prefect starts a temporary
local server for it)."""
import subprocess
import sys

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner


@task
def run(cmd: str) -> int:
    return subprocess.run(["bash", "-c", cmd], check=True, stdout=subprocess.DEVNULL).returncode


if __name__ == "__main__":
    with open(sys.argv[1]) as cmdfile:
        commands = [l for l in cmdfile.read().splitlines() if l.strip()]

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=int(sys.argv[2])))
    def batch(cmds: list[str]) -> None:
        run.map(cmds).wait()

    batch(commands)
