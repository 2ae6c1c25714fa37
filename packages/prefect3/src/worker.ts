// The process worker that takes the batch's flow runs from its pool and queue and starts
// their engines; in its own process group, its output in the batch's worker.log.
import path from "node:path";
import type { PrefectServer } from "./server.js";
import { startPrefect } from "./server.js";

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
  startPrefect(
    "the Prefect worker",
    python,
    workerArgs(pool, queue),
    path.join(dir, "worker.log"),
    server.envFor("worker"),
  );
