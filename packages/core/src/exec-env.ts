// The ExecEnv plugin interface: what a plugin declares and the hooks the core calls.
// A plugin decides how runs execute; the core owns everything around that (selection,
// records, strict mode, signals, clean-up), so a plugin stays small.
import type { z } from "zod";
import corePackage from "../package.json" with { type: "json" };
import type { Batch, Experiment } from "./batch.js";
import { type Capabilities, capabilitiesSchema } from "./capabilities.js";
import type { CoreOptions } from "./core-options.js";
import type { Run } from "./run.js";

/** Bumped when the interface changes incompatibly; plugins record the version they were built for. */
export const PLUGIN_API_VERSION = 1;

/** The version of this @sierra-exec/core, which plugins' peer ranges must accept. */
export const CORE_VERSION: string = corePackage.version;

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

/** What every hook gets. */
export interface ExecEnvContext<Options> {
  /** This plugin's options, parsed from its schema. */
  options: Options;
  /** The shared execution options (the contract's command line). */
  core: CoreOptions;
  batch: Batch;
  /** At most this many runs may execute at the same moment (`--exec-jobs-per-node`). */
  jobs: number;
  log: Logger;
  /**
   * Aborted when the batch must stop: SIGINT, SIGTERM or `--exec-strict` after a failure.
   * Then start no new run, stop the running ones, report their ends and return.
   */
  signal: AbortSignal;
  /** Unique to this invocation: mark the processes and resources you create with it. */
  executionId: string;
  /** Registers clean-up that runs after tear-down whatever happened, last registered first. */
  onCleanup(cleanup: () => void | Promise<void>): void;
}

export interface RunStart {
  /** Process (group) id of the run, where there is one. */
  pid?: number;
  at?: Date;
}

export interface RunOutcome {
  /** Exit status, or null when the run was killed by a signal or never started. */
  exitCode: number | null;
  /** Name of the signal that ended the run, e.g. `SIGTERM`. */
  signal: string | null;
  startedAt?: Date;
  finishedAt?: Date;
  /** Why the run could not start, or why it has no exit status. */
  error?: string;
  /** Where the run executed (a node, a worker's host); this host when left out. */
  host?: string;
}

export interface ExecuteContext<Options, State> extends ExecEnvContext<Options> {
  /** What `setupBatch` returned. */
  state: State;
  runStarted(run: Run, start?: RunStart): void;
  /** Report every started run's end, also when it was stopped. The core writes its record. */
  runEnded(run: Run, outcome: RunOutcome): void;
}

export interface ExecEnvDefinition<Schema extends z.ZodObject = z.ZodObject, State = unknown> {
  /** What `--execenv` names, e.g. `local`. */
  name: string;
  /** Other accepted names, e.g. SIERRA's `hpc.local`. */
  aliases?: readonly string[];
  /** One line for listings and help. */
  description: string;
  /** The plugin's own options; each property becomes a `--kebab-case` flag. */
  options: Schema;
  /**
   * What the execenv can do (see `capabilitiesSchema`); left out, a capability takes its
   * default. Options that need a missing capability are refused before anything runs.
   */
  capabilities?: Partial<Capabilities>;
  /** Is the environment usable? Throw a SierraError saying what is missing and how to fix it. */
  check?(ctx: ExecEnvContext<z.output<Schema>>): void | Promise<void>;
  setupBatch?(ctx: ExecEnvContext<z.output<Schema>>): State | Promise<State>;
  setupExperiment?(
    experiment: Experiment,
    ctx: ExecuteContext<z.output<Schema>, State>,
  ): void | Promise<void>;
  /**
   * Executes a set of runs (the whole selection, or one experiment's with the per-exp
   * paradigm) with at most `ctx.jobs` at once, reporting each start and end.
   */
  execute(runs: readonly Run[], ctx: ExecuteContext<z.output<Schema>, State>): Promise<void>;
  /** Always called for an experiment whose set-up was called. */
  teardownExperiment?(
    experiment: Experiment,
    ctx: ExecuteContext<z.output<Schema>, State>,
  ): void | Promise<void>;
  /** Always called once `setupBatch` was called, even when it failed (`state` is then undefined). */
  teardownBatch?(ctx: ExecEnvContext<z.output<Schema>>, state: State | undefined): void | Promise<void>;
}

export interface ExecEnv<Schema extends z.ZodObject = z.ZodObject, State = unknown>
  extends ExecEnvDefinition<Schema, State> {
  /** The plugin API version the execenv was built for (`PLUGIN_API_VERSION` of its core). */
  apiVersion: number;
  capabilities: Capabilities;
}

/**
 * Declares an execenv: records the plugin API version, fills in the default capabilities,
 * and keeps the option types flowing from the schema into every hook.
 */
export function defineExecEnv<Schema extends z.ZodObject, State = undefined>(
  definition: ExecEnvDefinition<Schema, State>,
): ExecEnv<Schema, State> {
  return {
    apiVersion: PLUGIN_API_VERSION,
    ...definition,
    capabilities: capabilitiesSchema.parse(definition.capabilities ?? {}),
  };
}
