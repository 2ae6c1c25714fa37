// The process worker that takes the batch's flow runs from its pool and queue and starts
// their engines; in its own process group, its output in the batch's worker.log. It starts
// beside the server (python/start_worker.py waits for its queue), so that its imports
// overlap the server's boot.
import path from "node:path";
import { HelperProcess } from "@sierra-exec/core";
import type { PrefectServer } from "./server.js";

const START_WORKER = new URL("../python/start_worker.py", import.meta.url).pathname;

export const workerArgs = (pool: string, queue: string) => [
  "worker",
  "start",
  "--pool",
  pool,
  "--work-queue",
  queue,
  "--type",
  "process",
  "--name",
  "sierra-worker",
  "--install-policy",
  "never",
  // The pool exists before the worker starts; a worker that made its own would hide a mistake.
  "--no-create-pool-if-not-found",
];

export const startWorker = (
  server: PrefectServer,
  { python, dir, pool, queue }: { python: string; dir: string; pool: string; queue: string },
) =>
  HelperProcess.start("the Prefect worker", python, [START_WORKER, "prefect", ...workerArgs(pool, queue)], {
    env: server.envFor("worker"),
    logFile: path.join(dir, "worker.log"),
  });
