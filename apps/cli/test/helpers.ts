// Test fixtures: batches in SIERRA layout in temp dirs, the built CLI as a real process,
// and a scan for processes left behind (by a marker in their environment).
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";

export const SIERRA = path.resolve(import.meta.dirname, "../dist/bin.js");

/** Writes exp-inputs/<exp>/commands.txt for each experiment (and a per-batch cmdfile). */
export function makeBatch(experiments: Record<string, string[]>, batchCommands?: string[]): string {
  const root = mkdtempSync(path.join(tmpdir(), "sierra-test-"));
  for (const [name, commands] of Object.entries(experiments)) {
    mkdirSync(path.join(root, "exp-inputs", name), { recursive: true });
    writeFileSync(path.join(root, "exp-inputs", name, "commands.txt"), `${commands.join("\n")}\n`);
  }
  if (batchCommands) writeFileSync(path.join(root, "commands.txt"), `${batchCommands.join("\n")}\n`);
  return root;
}

/** A value to put in a CLI's environment; every process it starts inherits it. */
export const newMarker = () => `sierra-test-${randomUUID()}`;

/** Starts the built CLI; never rejects, so tests can assert on any exit status. */
export function sierra(
  args: string[],
  { marker, env = {}, timeout = 60_000 }: { marker?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {},
) {
  return execa(process.execPath, [SIERRA, ...args], {
    reject: false,
    timeout,
    env: { ...env, ...(marker ? { SIERRA_TEST_MARKER: marker } : {}), CI: "1" },
  });
}

/** Command lines (arguments joined by spaces) of live processes whose environment carries `marker`. */
export const commandsWith = (marker: string): string[] =>
  processesWith(marker).map((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").join(" ").trim();
    } catch {
      return "";
    }
  });

/** Pids of live processes whose environment carries `marker`. */
export function processesWith(marker: string): number[] {
  const needle = `SIERRA_TEST_MARKER=${marker}`;
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "latin1").split("\0").includes(needle))
        pids.push(Number(entry));
    } catch {
      // gone already, or not ours to read
    }
  }
  return pids;
}

export async function waitFor<T>(probe: () => T | undefined | false, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export interface RecordLine {
  exp: string;
  run: number;
  command: string;
  exitCode: number | null;
  signal: string | null;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  attempt: number;
  execenv: string;
  stdout: string | null;
  stderr: string | null;
  error?: string;
}

export function readRecords(root: string): RecordLine[] {
  const text = readFileSync(path.join(root, "statistics/exec/runs.jsonl"), "utf8");
  return text
    .split("\n")
    .filter((line) => line.startsWith("{") && line.endsWith("}"))
    .map((line) => JSON.parse(line));
}

export const read = (...parts: string[]) => readFileSync(path.join(...parts), "utf8");

/**
 * The largest number of runs executing at once, from intervals that the runs themselves
 * printed (`date +%s%N` at start and end), not from sierra's own records.
 */
export function maxOverlap(intervals: Array<[number, number]>): number {
  const events = intervals.flatMap(([start, end]) => [
    [start, 1],
    [end, -1],
  ]);
  events.sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number));
  let current = 0;
  let max = 0;
  for (const [, delta] of events) {
    current += delta as number;
    max = Math.max(max, current);
  }
  return max;
}

/** A command that prints its start and end time in nanoseconds around `sleep`. */
export const timedSleep = (seconds: number) => `date +%s%N; sleep ${seconds}; date +%s%N`;

export function intervalOf(stdoutFile: string): [number, number] {
  const [start, end] = readFileSync(stdoutFile, "utf8").trim().split("\n").map(Number);
  return [start as number, end as number];
}
