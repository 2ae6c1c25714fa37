// The plan of an invocation: the batch on disk and the runs selected to execute.
import { type Batch, discoverBatch } from "./batch.js";
import type { CoreOptions } from "./core-options.js";
import { withParallelLogs } from "./parallel-log.js";
import { batchRuns, type Run } from "./run.js";
import { type RunHistory, readRunHistory } from "./run-records.js";
import { selectExperiments, selectRuns } from "./selection.js";

export interface BatchPlan {
  batch: Batch;
  /** The runs to execute, in batch order. */
  runs: Run[];
  /** Runs in the selected experiments that --exec-resume skips. */
  skipped: number;
  /** Previous attempts, with --exec-resume. */
  history: RunHistory | undefined;
}

export function planBatch(core: CoreOptions): BatchPlan {
  const batch = discoverBatch(core.batchRoot);
  const experiments = selectExperiments(batch, core.expRange);
  const history = core.execResume ? withParallelLogs(readRunHistory(batch.root), batch) : undefined;
  const all = batchRuns(batch, core.execDevnull);
  const runs = selectRuns(all, experiments, history);
  const inRange = selectRuns(all, experiments, undefined).length;
  return { batch, runs, skipped: inRange - runs.length, history };
}
