// The lines printed when a batch ends: counts, why it stopped, which runs failed and where
// to look, and how to pick up where it left off.
import type { BatchResult, Logger } from "@sierra-exec/core";
import { runsJsonlPath } from "@sierra-exec/core";
import { howItEnded } from "./reporter.js";

const MAX_LISTED = 10;

export function printSummary(result: BatchResult, batchRoot: string, log: Logger): void {
  const { succeeded, failed, stopped, notRun, stoppedBy } = result;
  const seconds = (result.durationMs / 1000).toFixed(1);
  const stoppedCount = stopped.length > 0 ? `, ${stopped.length} stopped (${stopped[0]?.stopped})` : "";
  log.info(
    `${succeeded} succeeded, ${failed.length} failed${stoppedCount}, ${notRun} not run, in ${seconds}s`,
  );
  if (stoppedBy?.kind === "strict") log.info(`stopped after ${stoppedBy.run.id} failed (--exec-strict)`);
  if (stoppedBy?.kind === "signal") log.info(`interrupted by ${stoppedBy.signal}; all runs stopped`);
  for (const record of failed.slice(0, MAX_LISTED)) {
    log.info(
      `  failed: ${record.exp}/run${record.run} (${howItEnded(record)})${record.stderr ? ` ${record.stderr}` : ""}`,
    );
  }
  if (failed.length > MAX_LISTED)
    log.info(`  ... and ${failed.length - MAX_LISTED} more in ${runsJsonlPath(batchRoot)}`);
  if (failed.length + stopped.length > 0 || notRun > 0)
    log.info("to run only what did not succeed: add --exec-resume");
}
