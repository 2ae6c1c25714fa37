// Concurrency measured from the runs' own clocks rather than from what the execenv reports.
import { readFileSync } from "node:fs";

/** A command that writes its start and end time (ns) to `file`, sleeping `seconds` between. */
export const timedSleep = (seconds: number, file: string) =>
  `date +%s%N > "${file}"; sleep ${seconds}; date +%s%N >> "${file}"`;

/** The largest number of intervals open at the same moment; an interval ending as another starts does not overlap it. */
export function maxOverlap(intervals: ReadonlyArray<readonly [number, number]>): number {
  const events = intervals.flatMap(([start, end]) => [
    [start, 1],
    [end, -1],
  ]) as Array<[number, number]>;
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let max = 0;
  for (const [, delta] of events) {
    current += delta;
    max = Math.max(max, current);
  }
  return max;
}

/** The interval a `timedSleep` command wrote to `file`. */
export function readInterval(file: string): [number, number] {
  const [start = Number.NaN, end = Number.NaN] = readFileSync(file, "utf8").trim().split("\n").map(Number);
  return [start, end];
}
