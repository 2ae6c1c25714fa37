// Executes a planned batch on an execenv. Every execenv goes through here: the lifecycle
// hooks, run records, --exec-strict, the parallelism paradigm, signals and clean-up.
import { randomBytes } from "node:crypto";
import type { z } from "zod";
import type { Experiment } from "./batch.js";
import { assertCapabilities } from "./capabilities.js";
import { displayCommand } from "./command-text.js";
import type { CoreOptions } from "./core-options.js";
import type { ExecEnv, ExecEnvContext, ExecuteContext, Logger, RunOutcome, RunStart } from "./exec-env.js";
import type { BatchPlan } from "./plan.js";
import type { Run } from "./run.js";
import { RecordWriter, type RunRecord, recordSucceeded } from "./run-records.js";

export type StopReason = { kind: "signal"; signal: NodeJS.Signals } | { kind: "strict"; run: Run };

/** Receives what happens, for progress displays. */
export interface BatchObserver {
  batchStarted?(info: { runs: number; jobs: number }): void;
  runStarted?(run: Run): void;
  runEnded?(run: Run, record: RunRecord): void;
}

export interface BatchResult {
  /** The contract's exit status: 0, 1, 2, or 128 + the signal's number. */
  exitCode: number;
  succeeded: number;
  failed: RunRecord[];
  /** Selected runs that never started (stopped early, or left out by the execenv). */
  notRun: number;
  durationMs: number;
  stoppedBy?: StopReason;
  /** An environment or plugin error that ended the batch (exit status 2). */
  error?: unknown;
}

export interface ExecuteBatchInput<Schema extends z.ZodObject, State> {
  plan: BatchPlan;
  execenv: ExecEnv<Schema, State>;
  options: z.output<Schema>;
  core: CoreOptions;
  log: Logger;
  observer?: BatchObserver;
  /** Stop on SIGINT, SIGTERM and SIGHUP (default true). */
  handleSignals?: boolean;
  /**
   * Stops the batch from outside, as the signal named by the abort reason would
   * (`controller.abort("SIGINT")`; SIGTERM for any other reason).
   */
  signal?: AbortSignal;
}

const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

interface RunGroup {
  experiments: Experiment[];
  runs: Run[];
}

function groupRuns(plan: BatchPlan, paradigm: CoreOptions["execParallelismParadigm"]): RunGroup[] {
  const byExp = new Map<string, Run[]>();
  for (const run of plan.runs) {
    const runs = byExp.get(run.exp);
    if (runs) runs.push(run);
    else byExp.set(run.exp, [run]);
  }
  const experiments = plan.batch.experiments.filter((experiment) => byExp.has(experiment.name));
  if (paradigm === "per-batch") return [{ experiments, runs: plan.runs }];
  return experiments.map((experiment) => ({
    experiments: [experiment],
    runs: byExp.get(experiment.name) ?? [],
  }));
}

export async function executeBatch<Schema extends z.ZodObject, State>(
  input: ExecuteBatchInput<Schema, State>,
): Promise<BatchResult> {
  const { plan, execenv, core, log, observer = {} } = input;
  assertCapabilities(execenv, core);
  const startedAt = Date.now();
  const controller = new AbortController();
  let stoppedBy: StopReason | undefined;
  const stop = (reason: StopReason) => {
    // A signal during a strict stop still decides the exit status.
    if (!stoppedBy || reason.kind === "signal") stoppedBy = reason;
    controller.abort(reason);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stoppedBy?.kind === "signal") log.warn(`${signal}: already stopping, cleaning up`);
    else log.info(`${signal}: stopping runs and cleaning up`);
    stop({ kind: "signal", signal });
  };
  const signals = input.handleSignals === false ? [] : (["SIGINT", "SIGTERM", "SIGHUP"] as const);
  for (const signal of signals) process.on(signal, onSignal);
  const onAbort = () => {
    const reason = input.signal?.reason;
    onSignal(reason === "SIGINT" || reason === "SIGHUP" ? reason : "SIGTERM");
  };
  if (input.signal?.aborted) onAbort();
  else input.signal?.addEventListener("abort", onAbort, { once: true });

  const cleanups: Array<() => void | Promise<void>> = [];
  const base: ExecEnvContext<z.output<Schema>> = {
    options: input.options,
    core,
    batch: plan.batch,
    jobs: core.execJobsPerNode,
    log,
    signal: controller.signal,
    executionId: `sierra-${process.pid}-${randomBytes(4).toString("hex")}`,
    onCleanup: (cleanup) => cleanups.push(cleanup),
  };

  let records: RecordWriter | undefined;
  const startTimes = new Map<string, number>();
  const ended = new Set<string>();
  const failed: RunRecord[] = [];
  let succeeded = 0;

  const runStarted = (run: Run, start?: RunStart) => {
    if (ended.has(run.id) || startTimes.has(run.id)) return;
    startTimes.set(run.id, start?.at?.getTime() ?? Date.now());
    observer.runStarted?.(run);
  };
  const runEnded = (run: Run, outcome: RunOutcome) => {
    if (ended.has(run.id) || !records) return;
    ended.add(run.id);
    const finishedMs = outcome.finishedAt?.getTime() ?? Date.now();
    const startMs = outcome.startedAt?.getTime() ?? startTimes.get(run.id) ?? finishedMs;
    startTimes.delete(run.id);
    const record: RunRecord = {
      exp: run.exp,
      run: run.index,
      command: displayCommand(run.command),
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      startedAt: new Date(startMs).toISOString(),
      finishedAt: new Date(finishedMs).toISOString(),
      durationMs: finishedMs - startMs,
      attempt: (plan.history?.attempts(run) ?? 0) + 1,
      execenv: execenv.name,
      host: outcome.host ?? records.host,
      stdout: run.stdout,
      stderr: run.stderr,
      ...(outcome.error ? { error: outcome.error } : {}),
    };
    records.write(record, run.seq);
    if (recordSucceeded(record)) {
      succeeded += 1;
    } else {
      failed.push(record);
      if (core.execStrict) stop({ kind: "strict", run });
    }
    observer.runEnded?.(run, record);
  };

  let error: unknown;
  const guard = async (step: () => unknown) => {
    try {
      await step();
    } catch (caught) {
      error ??= caught;
      if (error !== caught) log.warn(`clean-up: ${(caught as Error).message}`);
    }
  };

  let setupCalled = false;
  let state: State | undefined;
  await guard(async () => {
    if (plan.runs.length === 0) return;
    log.debug(`${execenv.name}: check (execution ${base.executionId})`);
    await execenv.check?.(base);
    if (controller.signal.aborted) return;
    setupCalled = true;
    log.debug(`${execenv.name}: set up the batch`);
    state = await execenv.setupBatch?.(base);
    records = new RecordWriter(plan.batch.root, !core.execResume, plan.batch);
    observer.batchStarted?.({ runs: plan.runs.length, jobs: core.execJobsPerNode });
    const ctx: ExecuteContext<z.output<Schema>, State> = {
      ...base,
      state: state as State,
      runStarted,
      runEnded,
    };
    for (const group of groupRuns(plan, core.execParallelismParadigm)) {
      if (controller.signal.aborted) break;
      const setUp: Experiment[] = [];
      try {
        for (const experiment of group.experiments) {
          setUp.push(experiment);
          await execenv.setupExperiment?.(experiment, ctx);
        }
        log.debug(
          `${execenv.name}: execute ${group.runs.length} runs of ${group.experiments.length} experiments`,
        );
        await execenv.execute(group.runs, ctx);
      } finally {
        for (const experiment of setUp.reverse())
          await guard(() => execenv.teardownExperiment?.(experiment, ctx));
        for (const run of group.runs) {
          if (startTimes.has(run.id)) {
            runEnded(run, { exitCode: null, signal: null, error: `execenv ${execenv.name} reported no end` });
          }
        }
      }
    }
  });
  if (setupCalled) {
    log.debug(`${execenv.name}: tear down the batch`);
    await guard(() => execenv.teardownBatch?.(base, state));
  }
  for (const cleanup of cleanups.reverse()) await guard(cleanup);
  records?.close();
  for (const signal of signals) process.off(signal, onSignal);
  input.signal?.removeEventListener("abort", onAbort);

  const notRun = plan.runs.length - succeeded - failed.length;
  const reason = stoppedBy as StopReason | undefined;
  const exitCode =
    reason?.kind === "signal"
      ? (SIGNAL_EXIT[reason.signal] ?? 1)
      : error !== undefined
        ? 2
        : failed.length > 0 || notRun > 0
          ? 1
          : 0;
  return {
    exitCode,
    succeeded,
    failed,
    notRun,
    durationMs: Date.now() - startedAt,
    ...(reason ? { stoppedBy: reason } : {}),
    ...(error === undefined ? {} : { error }),
  };
}
