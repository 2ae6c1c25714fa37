// Executes a planned batch on an execenv. Every execenv goes through here: the lifecycle
// hooks, run records, --exec-strict, the parallelism paradigm, signals and clean-up.
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import type { z } from "zod";
import type { Experiment } from "./batch.js";
import { EXECUTION_MARKER, sweepBatch } from "./batch-guard.js";
import { type BatchLock, lockBatchRoot } from "./batch-lock.js";
import { assertCapabilities } from "./capabilities.js";
import { displayCommand } from "./command-text.js";
import type { CoreOptions } from "./core-options.js";
import { isSierraError, type SierraError } from "./errors.js";
import type { ExecEnv, ExecEnvContext, ExecuteContext, Logger, RunOutcome, RunStart } from "./exec-env.js";
import type { BatchPlan } from "./plan.js";
import type { Run } from "./run.js";
import { RecordWriter, type RunRecord, recordSucceeded } from "./run-records.js";
import { signalExitStatus } from "./signal-names.js";
import { writeFailure } from "./write-failure.js";

/** Why a batch stopped early: a signal, --exec-strict after a failed run, or an error of ours (a full disk). */
export type StopReason =
  | { kind: "signal"; signal: NodeJS.Signals }
  | { kind: "strict"; run: Run }
  | { kind: "error"; error: unknown };

/** How a stopped run's record names the stop: `SIGINT`, `strict` or `error`. */
const stopLabel = (reason: StopReason) => (reason.kind === "signal" ? reason.signal : reason.kind);

/** Receives what happens, for progress displays. */
export interface BatchObserver {
  batchStarted?(info: { runs: number; jobs: number }): void;
  runStarted?(run: Run): void;
  /** `record.stopped` is set for a run the batch stopped. */
  runEnded?(run: Run, record: RunRecord): void;
  /** The batch is stopping early: no run starts any more. */
  batchStopping?(reason: StopReason): void;
}

export interface BatchResult {
  /** The contract's exit status: 0, 1, 2, or 128 + the signal's number. */
  exitCode: number;
  succeeded: number;
  failed: RunRecord[];
  /** Runs the batch stopped (a signal, --exec-strict, an error of ours): not failures of their own. */
  stopped: RunRecord[];
  /** Selected runs that never started (stopped early, or left out by the execenv). */
  notRun: number;
  durationMs: number;
  stoppedBy?: StopReason;
  /** An environment or plugin error that ended the batch (exit status 2). */
  error?: unknown;
}

export interface ExecuteBatchInput<Schema extends z.ZodObject, State, Found = unknown> {
  plan: BatchPlan;
  execenv: ExecEnv<Schema, State, Found>;
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

interface RunGroup {
  experiments: Experiment[];
  runs: Run[];
}

function groupRuns(
  runs: Run[],
  all: readonly Experiment[],
  paradigm: CoreOptions["execParallelismParadigm"],
): RunGroup[] {
  const byExp = new Map<string, Run[]>();
  for (const run of runs) {
    const runs = byExp.get(run.exp);
    if (runs) runs.push(run);
    else byExp.set(run.exp, [run]);
  }
  const experiments = all.filter((experiment) => byExp.has(experiment.name));
  if (paradigm === "per-batch") return [{ experiments, runs }];
  return experiments.map((experiment) => ({
    experiments: [experiment],
    runs: byExp.get(experiment.name) ?? [],
  }));
}

/** For a run that could not start: the failure to make its output files, if that is why. */
function unwritableOutputs(run: Run): SierraError | undefined {
  for (const file of [run.stdout, run.stderr]) {
    if (!file) continue;
    const dir = path.dirname(file);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      return writeFailure(dir, error);
    }
    try {
      closeSync(openSync(file, "a"));
    } catch (error) {
      return writeFailure(file, error);
    }
  }
  return undefined;
}

export async function executeBatch<Schema extends z.ZodObject, State, Found>(
  input: ExecuteBatchInput<Schema, State, Found>,
): Promise<BatchResult> {
  const { plan, execenv, core, log, observer = {} } = input;
  assertCapabilities(execenv, core);
  const startedAt = Date.now();
  const controller = new AbortController();
  let stoppedBy: StopReason | undefined;
  const stop = (reason: StopReason) => {
    // A signal during a strict stop still decides the exit status.
    const first = !stoppedBy;
    if (!stoppedBy || reason.kind === "signal") stoppedBy = reason;
    controller.abort(reason);
    if (first) observer.batchStopping?.(reason);
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

  const host = hostname();
  let records: RecordWriter | undefined;
  let recording = true;
  let error: unknown;
  /** A failure to write records or outputs stops the batch as --exec-strict does, exit 2. */
  const writeFailed = (failure: unknown) => {
    error ??= failure;
    recording = false; // after a torn line, a later record would be torn too: write none
    stop({ kind: "error", error: failure });
  };
  const startTimes = new Map<string, number>();
  const ended = new Set<string>();
  const failed: RunRecord[] = [];
  const stopped: RunRecord[] = [];
  let succeeded = 0;

  const runStarted = (run: Run, start?: RunStart) => {
    if (ended.has(run.id) || startTimes.has(run.id)) return;
    startTimes.set(run.id, start?.at?.getTime() ?? Date.now());
    observer.runStarted?.(run);
  };
  const runEnded = (run: Run, outcome: RunOutcome) => {
    if (ended.has(run.id)) return;
    ended.add(run.id);
    const unwritable = outcome.error !== undefined && outcome.exitCode === null && unwritableOutputs(run);
    if (unwritable) {
      // The run could not start because its output files cannot be made: the disk failed, not the run.
      startTimes.delete(run.id);
      writeFailed(unwritable);
      return;
    }
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
      host: outcome.host ?? host,
      stdout: run.stdout,
      stderr: run.stderr,
      ...(outcome.error ? { error: outcome.error } : {}),
      ...(stoppedBy && outcome.exitCode !== 0 ? { stopped: stopLabel(stoppedBy) } : {}),
    };
    try {
      if (recording) records?.write(record, run.seq);
    } catch (failure) {
      writeFailed(failure);
    }
    if (recordSucceeded(record)) {
      succeeded += 1;
    } else if (record.stopped) {
      stopped.push(record);
    } else {
      failed.push(record);
      if (core.execStrict) stop({ kind: "strict", run });
    }
    observer.runEnded?.(run, record);
  };

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
  let lock: BatchLock | undefined;
  await guard(async () => {
    if (plan.runs.length === 0) return;
    try {
      lock = lockBatchRoot(plan.batch.root, log);
    } catch (failure) {
      throw isSierraError(failure) ? failure : writeFailure(plan.batch.root, failure);
    }
    log.debug(`${execenv.name}: check (execution ${base.executionId})`);
    const found = (await execenv.check?.(base)) as Found;
    if (controller.signal.aborted) return;
    setupCalled = true;
    log.debug(`${execenv.name}: set up the batch`);
    state = await execenv.setupBatch?.(base, found);
    records = new RecordWriter(plan.batch.root, !core.execResume, plan.batch, plan.experiments);
    observer.batchStarted?.({ runs: plan.runs.length, jobs: core.execJobsPerNode });
    const ctx: ExecuteContext<z.output<Schema>, State> = {
      ...base,
      state: state as State,
      runStarted,
      runEnded,
    };
    // Every run carries the batch's marker, whichever execenv starts it: the last sweep
    // finds what runs left behind by it.
    const runs = plan.runs.map((run) => ({
      ...run,
      env: { ...run.env, [EXECUTION_MARKER]: base.executionId },
    }));
    for (const group of groupRuns(runs, plan.batch.experiments, core.execParallelismParadigm)) {
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
  // Last, whatever a run started that left its process group or session (a daemon) and
  // still carries the batch's marker, which execenvs put in their runs' environment.
  await guard(() => sweepBatch(base.executionId, log));
  records?.close();
  await guard(() => lock?.release());
  for (const signal of signals) process.off(signal, onSignal);
  input.signal?.removeEventListener("abort", onAbort);

  const notRun = plan.runs.length - succeeded - failed.length - stopped.length;
  const reason = stoppedBy as StopReason | undefined;
  const exitCode =
    reason?.kind === "signal"
      ? signalExitStatus(reason.signal)
      : error !== undefined
        ? 2
        : failed.length > 0 || notRun > 0
          ? 1
          : 0;
  return {
    exitCode,
    succeeded,
    failed,
    stopped,
    notRun,
    durationMs: Date.now() - startedAt,
    ...(reason ? { stoppedBy: reason } : {}),
    ...(error === undefined ? {} : { error }),
  };
}
