// One experimental run as every execenv sees it: what to execute, where, and where its output goes.
import path from "node:path";
import type { Batch, Experiment } from "./batch.js";

export interface Run {
  /** `<exp>/run<i>`: how the run is named in progress, summaries and task names. */
  id: string;
  exp: string;
  /** Run index within its experiment (0-based). */
  index: number;
  /** 1-based position of the run in the whole batch; stable across resumes (joblog `Seq`). */
  seq: number;
  /**
   * The cmdfile line, lossless: each byte that is not UTF-8 is a lone surrogate U+DC80..U+DCFF
   * (Python's surrogateescape). `commandBytes` gives what `bash -c` runs, `displayCommand` what
   * records show.
   */
  command: string;
  /** Working directory: the experiment's input directory (the batch root for the per-batch cmdfile). */
  cwd: string;
  /**
   * Variables to add to the caller's environment: SIERRA_BATCH_ROOT, SIERRA_EXP, SIERRA_RUN,
   * and (from executeBatch) SIERRA_EXEC_ID, the batch's marker that its last sweep looks for.
   */
  env: Record<string, string>;
  /** Files for the run's stdout and stderr, or null with --exec-devnull. The execenv creates their directory. */
  stdout: string | null;
  stderr: string | null;
}

export const runOutputDir = (batchRoot: string, exp: string, index: number) =>
  path.join(batchRoot, "scratch", exp, `run${index}`);

/** Every run of the batch, in batch order. */
export function batchRuns(batch: Batch, devnull: boolean): Run[] {
  let seq = 0;
  return batch.experiments.flatMap((experiment: Experiment) =>
    experiment.commands.map((command, index) => {
      const dir = runOutputDir(batch.root, experiment.name, index);
      seq += 1;
      return {
        id: `${experiment.name}/run${index}`,
        exp: experiment.name,
        index,
        seq,
        command,
        cwd: experiment.cwd,
        env: {
          SIERRA_BATCH_ROOT: batch.root,
          SIERRA_EXP: experiment.name,
          SIERRA_RUN: String(index),
        },
        stdout: devnull ? null : path.join(dir, "stdout"),
        stderr: devnull ? null : path.join(dir, "stderr"),
      };
    }),
  );
}
