// Long-lived helper processes (launchers, servers, workers, agents) in their own process
// groups, and stopping a whole group: TERM (or the signal a program needs), KILL after a grace.
import { setTimeout as sleep } from "node:timers/promises";
import type { Options } from "execa";
import { z } from "zod";

/**
 * Starts `file` as the leader of a new process group; execa's result never rejects.
 * Wrapped in an object so that awaiting this does not wait for the process to end.
 * execa loads on first use: importing it costs every CLI start a fifth of a second.
 */
export async function spawnGroup<O extends Options>(file: string, args: readonly string[], options: O) {
  const { execa } = await import("execa");
  return { child: execa(file, args, { ...options, detached: true, cleanup: false, reject: false } as const) };
}

export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function waitGone(alive: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive()) {
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
  return true;
}

/**
 * The one stop sequence: `signal` to the targets, SIGKILL to what is still alive after
 * `graceMs`, then a last second of waiting. `send` returns false when there was nothing
 * left to signal.
 */
export async function terminate(
  send: (signal: NodeJS.Signals) => boolean,
  alive: () => boolean,
  { graceMs, signal }: { graceMs: number; signal: NodeJS.Signals },
): Promise<void> {
  if (!send(signal) || (await waitGone(alive, graceMs))) return;
  if (send("SIGKILL")) await waitGone(alive, 1000);
}

/**
 * Stops every process in group `pgid`: `signal` first, SIGKILL to what is left after
 * `graceMs`. Resolves once the group is gone (or after a last second of waiting).
 */
export async function stopProcessGroup(
  pgid: number,
  { graceMs = 3000, signal = "SIGTERM" }: { graceMs?: number; signal?: NodeJS.Signals } = {},
): Promise<void> {
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pgid, sig);
      return true;
    } catch {
      return false;
    }
  };
  await terminate(send, () => groupAlive(pgid), { graceMs, signal });
}

/**
 * The `--kill-grace` option of execenvs that stop runs' process groups: one declaration,
 * so that it reads, parses and defaults the same everywhere.
 */
export const killGraceOption = z
  .number()
  .min(0, "must be 0 or more seconds")
  .default(2)
  .meta({ valueName: "SECONDS" })
  .describe("When runs are stopped: seconds between TERM and KILL of their process groups");
