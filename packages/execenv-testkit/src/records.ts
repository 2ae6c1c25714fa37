// The run records as the execution contract specifies them, read back from runs.jsonl.
import { readFileSync } from "node:fs";
import { runsJsonlPath, z } from "@sierra-exec/core";

/** A runs.jsonl record: the fields the contract requires, with their types. */
export const contractRecordSchema = z.looseObject({
  exp: z.string(),
  run: z.number().int().min(0),
  command: z.string(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  durationMs: z.number().min(0),
  attempt: z.number().int().min(1),
  execenv: z.string(),
});
export type ContractRecord = z.output<typeof contractRecordSchema>;

/** Every line of `<batchRoot>/statistics/exec/runs.jsonl`, each checked against the contract. */
export function readRecords(batchRoot: string): ContractRecord[] {
  const text = readFileSync(runsJsonlPath(batchRoot), "utf8");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => contractRecordSchema.parse(JSON.parse(line)));
}
