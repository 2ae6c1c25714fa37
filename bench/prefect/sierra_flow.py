"""SIERRA's prefectserver flow as its plugin deploys it, rewritten for the benchmark: the flow
reads <input_root>/commands.txt and maps one task per line over Prefect's default task
runner (unbounded); the tasks carry the tag its global concurrency limit is named after."""
import subprocess
from pathlib import Path

from prefect import flow, task


@task(tags=["sierra-exec-jobs-per-node"])
def exec_exp_run(cmd: str, scratch: str) -> None:
    with open(f"{scratch}.stdout", "w") as out, open(f"{scratch}.stderr", "w") as err:
        subprocess.run(cmd, shell=True, check=True, stdout=out, stderr=err)


@flow
def sierra(input_root: str, scratch_root: str) -> None:
    lines = [l for l in Path(input_root, "commands.txt").read_text().splitlines() if l.strip()]
    Path(scratch_root).mkdir(parents=True, exist_ok=True)
    scratch = [f"{scratch_root}/run{i}" for i in range(len(lines))]
    exec_exp_run.map(lines, scratch).wait()
