// Test fixtures: batches in SIERRA layout in temp dirs, the built CLI as a real process,
// and a scan for processes left behind (by a marker in their environment).
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { markedProcesses, type RunRecord } from "@sierra-exec/core";
import { commandLine } from "@sierra-exec/execenv-testkit";
import { execa } from "execa";

export { makeBatch, maxOverlap, readInterval as intervalOf, waitFor } from "@sierra-exec/execenv-testkit";

export const SIERRA = path.resolve(import.meta.dirname, "../dist/bin.js");

/** Command lines (arguments joined by spaces) of live processes whose environment carries `marker`. */
export const commandsWith = (marker: string): string[] => processesWith(marker).map(commandLine);

/** Pids of live processes whose environment carries `marker`. */
export const processesWith = (marker: string): number[] => markedProcesses("SIERRA_TEST_MARKER", marker);

/** A value to put in a CLI's environment; every process it starts inherits it. */
export const newMarker = () => `sierra-test-${randomUUID()}`;

/** Starts the built CLI; never rejects, so tests can assert on any exit status. */
export function sierra(
  args: string[],
  {
    marker,
    env = {},
    cwd,
    timeout = 60_000,
  }: { marker?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {},
) {
  return execa(process.execPath, [SIERRA, ...args], {
    reject: false,
    timeout,
    ...(cwd ? { cwd } : {}),
    env: { ...env, ...(marker ? { SIERRA_TEST_MARKER: marker } : {}), CI: "1" },
  });
}

/** The records, skipping lines that do not parse (the kill -9 test tears one on purpose). */
export function readRecords(root: string): RunRecord[] {
  const text = readFileSync(path.join(root, "statistics/exec/runs.jsonl"), "utf8");
  return text
    .split("\n")
    .filter((line) => line.startsWith("{") && line.endsWith("}"))
    .map((line) => JSON.parse(line));
}

export const read = (...parts: string[]) => readFileSync(path.join(...parts), "utf8");

/** A command that prints its start and end time in nanoseconds around `sleep`. */
export const timedSleep = (seconds: number) => `date +%s%N; sleep ${seconds}; date +%s%N`;
