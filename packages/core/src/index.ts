// Public surface of @sierra-exec/core: what the CLI and every execenv (built-in or
// third-party) build on.
export { z } from "zod";
export {
  BATCH_CMDFILE_EXP,
  type Batch,
  type DiscoverSettings,
  discoverBatch,
  type Experiment,
  type Paradigm,
  parseCmdfile,
} from "./batch.js";
export { EXECUTION_MARKER, guardBatch, sweepBatch, watchdogGrace } from "./batch-guard.js";
export { type BatchLock, LOCK_FILE, lockBatchRoot } from "./batch-lock.js";
export {
  assertCapabilities,
  type Capabilities,
  type CapabilityName,
  capabilitiesSchema,
} from "./capabilities.js";
export { commandBytes, displayCommand } from "./command-text.js";
export { type CoreOptions, coreOptionsSchema } from "./core-options.js";
export { isSierraError, SierraError } from "./errors.js";
export {
  CORE_VERSION,
  defineExecEnv,
  type ExecEnv,
  type ExecEnvContext,
  type ExecEnvDefinition,
  type ExecuteContext,
  type Logger,
  PLUGIN_API_VERSION,
  type RunOutcome,
  type RunStart,
} from "./exec-env.js";
export {
  EXECENV_KEYWORD,
  type ExecEnvPackageMeta,
  execenvNameSchema,
  execenvPackageMetaSchema,
  findInstalledExecEnvs,
  type InstalledExecEnv,
} from "./execenv-packages.js";
export {
  type BatchObserver,
  type BatchResult,
  type ExecuteBatchInput,
  executeBatch,
  type StopReason,
} from "./execute-batch.js";
export {
  fileTail,
  HelperProcess,
  type HelperProcessOptions,
  KeepAlive,
  lastLine,
  OutputTail,
} from "./helper-process.js";
export { callerRestore, type Isolation, isolatedEnv, RESTORE_ENV, RESTORE_ENV_FILE } from "./isolated-env.js";
export { type LoadExecEnvSettings, loadExecEnv } from "./load-execenv.js";
export { killMarkedOnExit, markedProcesses, stopMarkedProcesses } from "./marked-processes.js";
export {
  describeOptions,
  type OptionDescriptor,
  type OptionMeta,
  parseOptions,
  toFlag,
} from "./option-flags.js";
export { type BatchPlan, planBatch } from "./plan.js";
export { groupAlive, killGraceOption, spawnGroup, stopProcessGroup } from "./process-group.js";
export { cacheDir, ensurePythonEnv, type PythonEnv, type PythonEnvSpec } from "./python-env.js";
export { CORE_PYTHON_DIR, type RunSpec, runSpec, type StartedRun, startRun } from "./python-runs.js";
export { ExecEnvRegistry, type RegisteredExecEnv } from "./registry.js";
export { type Run, runOutputDir } from "./run.js";
export {
  joblogPath,
  type RunHistory,
  type RunRecord,
  readRunHistory,
  recordSucceeded,
  runsJsonlPath,
} from "./run-records.js";
export { shellQuote } from "./shell-quote.js";
export { signalExitStatus } from "./signal-names.js";
export { Watchdog } from "./watchdog.js";
export { writeFailure } from "./write-failure.js";
