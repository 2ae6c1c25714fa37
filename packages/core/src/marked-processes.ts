// Finds and stops processes by a marker in their environment (`/proc/<pid>/environ`, Linux):
// the last line of clean-up for execenvs whose processes leave our process groups
// (servers, workers, engines, runs in their own sessions). The environment scanned is the
// one a process started with, which its children inherit.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { onExit } from "signal-exit";
import { terminate } from "./process-group.js";

const netns = (pid: number | "self") => {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
};

/**
 * Pids of live processes (not zombies, not this one) whose environment has `name=value`;
 * with `thisHost`, only those of this process's network namespace (what a host is, also for
 * the test hosts that are namespaces of one machine).
 */
export function markedProcesses(name: string, value: string, { thisHost = false } = {}): number[] {
  const here = thisHost ? netns("self") : undefined;
  const needle = `${name}=${value}`;
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return pids; // no procfs: nothing we can find
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, "latin1").split("\0").includes(needle)) continue;
      if (here !== undefined && netns(Number(entry)) !== here) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z") pids.push(Number(entry));
    } catch {
      // gone already, or not ours to read
    }
  }
  return pids;
}

/**
 * Stops every process marked `name=value` (with `thisHost`, of this host only): TERM, then
 * KILL what is left after `graceMs`. Resolves to the pids that were found alive at first.
 */
export async function stopMarkedProcesses(
  name: string,
  value: string,
  { graceMs = 2000, thisHost = false }: { graceMs?: number; thisHost?: boolean } = {},
): Promise<number[]> {
  let found: number[] | undefined;
  const send = (signal: NodeJS.Signals) => {
    const pids = markedProcesses(name, value, { thisHost });
    found ??= pids;
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone already
      }
    }
    return pids.length > 0;
  };
  await terminate(send, () => markedProcesses(name, value, { thisHost }).length > 0, {
    graceMs,
    signal: "SIGTERM",
  });
  return found ?? [];
}

/**
 * Until the returned function is called: when this process exits or gets SIGTERM or SIGINT
 * (signal-exit's hook), kill -9 every process marked `name=value`, then run `also`. For test
 * clusters and the like, whose own stop() never runs then. SIGKILL of this process escapes it.
 */
export function killMarkedOnExit(name: string, value: string, also: () => void = () => {}): () => void {
  return onExit(() => {
    // Again until none is left (for up to a second): one that forked as the first list was
    // read, its child not on that list, would outlive its killed parent.
    const deadline = Date.now() + 1000;
    for (let pids = markedProcesses(name, value); pids.length > 0 && Date.now() < deadline; ) {
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone already
        }
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // exit hooks cannot await
      pids = markedProcesses(name, value);
    }
    also();
  });
}
