// The one clean-up set-up of execenvs whose helpers and runs can outlive the CLI (Prefect
// servers, workers, agents, runs in sessions of their own): a watchdog for a CLI that dies
// without cleaning up, and a last sweep of whatever still carries the batch's marker.
import type { ExecEnvContext } from "./exec-env.js";
import { markedProcesses, stopMarkedProcesses } from "./marked-processes.js";
import { Watchdog } from "./watchdog.js";

/** Every process of a batch carries `SIERRA_EXEC_ID=<executionId>` in its environment. */
export const EXECUTION_MARKER = "SIERRA_EXEC_ID";

/**
 * The watchdog's grace between TERM and KILL of a helper's group: long enough for the
 * helper's own stop of its runs (TERM, KILL after --kill-grace) to finish first.
 */
export const watchdogGrace = (killGrace: number) => Math.max(5, killGrace + 3);

/**
 * Starts the batch's watchdog (`python`: any Python 3) and registers, first so that it runs
 * last, its dismissal. Give the watchdog each helper's process group with `watch`. (The
 * sweep of the batch's marked processes is core's, after every clean-up: `sweepBatch`.)
 */
export async function guardBatch(
  python: string,
  killGrace: number,
  { executionId, onCleanup }: Pick<ExecEnvContext<unknown>, "executionId" | "onCleanup">,
): Promise<Watchdog> {
  const watchdog = await Watchdog.start(python, executionId, watchdogGrace(killGrace));
  onCleanup(() => watchdog.dismiss());
  return watchdog;
}

/**
 * The last clean-up of every batch, whatever the execenv: stops what still carries the
 * batch's marker (a run's daemon that left its group or session, a helper's straggler).
 */
export async function sweepBatch(executionId: string, log: ExecEnvContext<unknown>["log"]): Promise<void> {
  // This host's: on another one (a worker host of a remote execenv) they are its drain's to stop.
  const left = await stopMarkedProcesses(EXECUTION_MARKER, executionId, { thisHost: true });
  if (left.length > 0) log.debug(`clean-up: stopped ${left.length} leftover processes`);
  const still = markedProcesses(EXECUTION_MARKER, executionId, { thisHost: true });
  if (still.length > 0) log.warn(`clean-up: processes ${still.join(", ")} of this batch are still alive`);
}
