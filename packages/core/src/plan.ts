// The plan of an invocation: the batch on disk and the runs selected to execute.
import { type Batch, discoverBatch, type Experiment } from "./batch.js";
import type { CoreOptions } from "./core-options.js";
import { withParallelLogs } from "./parallel-log.js";
import { batchRuns, type Run } from "./run.js";
import { type RunHistory, readRunHistory } from "./run-records.js";
import { selectExperiments, selectRuns } from "./selection.js";

export interface BatchPlan {
  batch: Batch;
  /** The experiments --exp-range selects (all of them without it). */
  experiments: Experiment[];
  /** The runs to execute, in batch order. */
  runs: Run[];
  /** Runs in the selected experiments that --exec-resume skips. */
  skipped: number;
  /** Previous attempts, with --exec-resume. */
  history: RunHistory | undefined;
}

/**
 * `paradigmGiven`: whether the user chose --exec-parallelism-paradigm (the CLI knows);
 * if not, a batch with both a per-batch and per-experiment cmdfiles is refused.
 */
export function planBatch(
  core: CoreOptions,
  { paradigmGiven = true }: { paradigmGiven?: boolean } = {},
): BatchPlan {
  const batch = discoverBatch(core.batchRoot, { paradigm: core.execParallelismParadigm, paradigmGiven });
  const experiments = selectExperiments(batch, core.expRange);
  const history = core.execResume ? withParallelLogs(readRunHistory(batch.root), batch) : undefined;
  const all = batchRuns(batch, core.execDevnull);
  const runs = selectRuns(all, experiments, history);
  const inRange = selectRuns(all, experiments, undefined).length;
  return { batch, experiments, runs, skipped: inRange - runs.length, history };
}
