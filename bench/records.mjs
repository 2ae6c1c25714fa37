// What the benches read from a batch's run records (statistics/exec/runs.jsonl).
import { readFileSync } from "node:fs";
import path from "node:path";

/** How many runs were recorded, and the span from the first run's start to the last run's end. */
export function recordsSpan(root) {
  const records = readFileSync(path.join(root, "statistics/exec/runs.jsonl"), "utf8").trim().split("\n");
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const line of records) {
    const record = JSON.parse(line);
    first = Math.min(first, Date.parse(record.startedAt));
    last = Math.max(last, Date.parse(record.finishedAt));
  }
  return { runs: records.length, seconds: (last - first) / 1000 };
}
