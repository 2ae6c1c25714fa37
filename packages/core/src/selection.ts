// Run selection: which runs of a batch this invocation executes (--exp-range, --exec-resume).
import type { Batch, Experiment } from "./batch.js";
import { displayCommand } from "./command-text.js";
import { EXP_RANGE_PATTERN } from "./core-options.js";
import { SierraError } from "./errors.js";
import type { Run } from "./run.js";
import { type RunHistory, recordSucceeded } from "./run-records.js";

/** The experiments an `A:B` range names (0-based, inclusive; either end may be left open). */
export function selectExperiments(batch: Batch, expRange: string | undefined): Experiment[] {
  const all = batch.experiments;
  if (expRange === undefined) return all;
  const [, a = "", b = ""] = EXP_RANGE_PATTERN.exec(expRange) ?? [];
  const first = a === "" ? 0 : Number(a);
  const last = b === "" ? all.length - 1 : Number(b);
  const bounds = `the batch has ${all.length} experiment${all.length === 1 ? "" : "s"} (0:${all.length - 1})`;
  if (first > last)
    throw new SierraError(`--exp-range ${expRange}: the first experiment comes after the last`);
  if (last >= all.length) throw new SierraError(`--exp-range ${expRange} is out of range: ${bounds}`);
  return all.slice(first, last + 1);
}

/**
 * With `resume`, a run is skipped when its last record succeeded for the same command;
 * a run whose command changed since is run again.
 */
export function selectRuns(runs: Run[], experiments: Experiment[], resume: RunHistory | undefined): Run[] {
  const names = new Set(experiments.map((experiment) => experiment.name));
  return runs.filter((run) => {
    if (!names.has(run.exp)) return false;
    const last = resume?.last(run);
    return !(last && recordSucceeded(last) && last.command === displayCommand(run.command));
  });
}
