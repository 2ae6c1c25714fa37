"""A drain as a plain process, without Prefect: python/drain.py with a thread pool in place of
the flow's task runner. Usage: plain_drain.py WORK_DIR JOBS TOTAL_JOBS STRICT(0|1) EXECUTION_ID
Prints {"how", "message"} as the drain ended."""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

from drain import Drain, RunFailed


def main():
    work_dir, jobs, total, strict, execution_id = sys.argv[1:6]
    drain = Drain(work_dir, int(jobs), 1.0, strict == "1", int(total), execution_id)

    def run(n, i, spec, slot):
        try:
            drain.run(n, i, spec, slot)
        except RunFailed:
            pass

    with ThreadPoolExecutor(drain.jobs) as pool:
        how, message = drain.serve(lambda n, i, spec, slot: pool.submit(run, n, i, spec, slot))
    print(json.dumps({"how": how, "message": message}), flush=True)


if __name__ == "__main__":
    main()
