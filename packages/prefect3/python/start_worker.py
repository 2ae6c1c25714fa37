# `python start_worker.py prefect worker start --pool P --work-queue Q ...` runs that prefect
# command (its command line reads as one, for ps and pgrep), but the worker's imports (about
# 2 s) happen first, while the batch's server boots beside it, and the worker starts only
# once its queue exists: a worker that started earlier would find no pool, and one that
# synced before its queue was made would wait a heartbeat.
import base64
import os
import sys
import time
import urllib.parse
import urllib.request

# The slow part, done while the server boots.
import prefect.cli
import prefect.workers.process


def arg(name: str) -> str:
    return sys.argv[sys.argv.index(name) + 1]


def exists(url: str) -> bool:
    request = urllib.request.Request(url)
    if auth := os.environ.get("PREFECT_API_AUTH_STRING"):  # a server that requires basic auth
        request.add_header("Authorization", f"Basic {base64.b64encode(auth.encode()).decode()}")
    try:
        with urllib.request.urlopen(request, timeout=5):
            return True
    except OSError:  # refused while the server boots; 404 until the queue is made
        return False


pool, queue = (urllib.parse.quote(arg(name), safe="") for name in ("--pool", "--work-queue"))
queue_url = f"{os.environ['PREFECT_API_URL']}/work_pools/{pool}/queues/{queue}"
while not exists(queue_url):
    time.sleep(0.05)

sys.argv = sys.argv[1:]
prefect.cli.app()
