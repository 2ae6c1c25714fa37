// Follows a set of runs through their start and end files and tells the core, once each:
// shared by both modes (steps and jobs differ only in how runs are launched).
import type { ExecuteContext, Run, RunOutcome } from "@sierra-exec/core";
import type { RunFiles } from "./run-files.js";

export class RunTracker {
  private readonly pending = new Map<number, Run>();
  private readonly started = new Set<number>();

  constructor(
    private readonly files: RunFiles,
    runs: readonly Run[],
    private readonly ctx: ExecuteContext<unknown, unknown>,
  ) {
    for (const run of runs) this.pending.set(run.seq, run);
  }

  get done(): boolean {
    return this.pending.size === 0;
  }

  isPending(run: Run): boolean {
    return this.pending.has(run.seq);
  }

  hasStarted(run: Run): boolean {
    return this.started.has(run.seq) || this.files.hasStart(run);
  }

  /** Reports the starts and ends that appeared since the last poll. */
  poll(): void {
    const { started, ended } = this.files.scan();
    for (const seq of started) {
      const run = this.pending.get(seq);
      if (!run || this.started.has(seq)) continue;
      this.started.add(seq);
      this.ctx.runStarted(run, { at: this.files.start(run).at });
    }
    for (const seq of ended) {
      const run = this.pending.get(seq);
      if (run) this.end(run, this.files.end(run));
    }
  }

  /** The run's end, from its file or (when it has none) from what Slurm says. */
  end(run: Run, outcome: RunOutcome): void {
    if (!this.pending.delete(run.seq)) return;
    if (!this.started.has(run.seq))
      this.ctx.runStarted(run, outcome.startedAt ? { at: outcome.startedAt } : {});
    this.ctx.runEnded(run, outcome);
  }

  /** The run never started and never will (the batch is stopping): no record. */
  drop(run: Run): void {
    this.pending.delete(run.seq);
  }
}
