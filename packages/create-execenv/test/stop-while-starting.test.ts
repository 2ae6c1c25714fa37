// The template's stop covers a run whose start is still being reported: a SIGTERM that comes
// between the run's spawn and its "started" report must stop it too, or the batch never ends.
import { setTimeout as sleep } from "node:timers/promises";
import {
  coreOptionsSchema,
  executeBatch,
  parseOptions,
  planBatch,
  stopMarkedProcesses,
} from "@sierra-exec/core";
import { makeBatch, readRecords } from "@sierra-exec/execenv-testkit";
import { expect, it } from "vitest";
import execenv from "../template/src/index.js";

it("a SIGTERM while runs are starting stops them, and the batch ends", async () => {
  const root = makeBatch({ a: ["sleep 300", "sleep 300"] });
  const controller = new AbortController();
  const core = coreOptionsSchema.parse({ execenv: execenv.name, batchRoot: root, execJobsPerNode: 2 });
  const done = executeBatch({
    plan: planBatch(core),
    execenv: {
      ...execenv,
      // Both runs' helpers are spawned by now; neither has reported its start yet.
      execute: (runs, ctx) => {
        const executing = execenv.execute(runs, ctx);
        setImmediate(() => controller.abort("SIGTERM"));
        return executing;
      },
    },
    options: parseOptions(execenv.options, { killGrace: 0.5 }),
    core,
    log: { info: () => {}, warn: () => {}, debug: () => {} },
    handleSignals: false,
    signal: controller.signal,
  });
  const result = await Promise.race([done, sleep(20_000, "late" as const, { ref: false })]);
  // Runs left running by a failure here must not outlive the test.
  if (result === "late") await stopMarkedProcesses("SIERRA_BATCH_ROOT", root, { graceMs: 0 });
  expect(result, "the batch did not end within 20 s of SIGTERM").not.toBe("late");
  if (result === "late") return;
  expect(result.exitCode).toBe(143);
  for (const record of readRecords(root)) expect(record.exitCode).not.toBe(0);
}, 30_000);
