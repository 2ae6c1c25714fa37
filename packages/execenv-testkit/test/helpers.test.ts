// The suite's own measuring tools: overlap, the process scan, the record check.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { markedProcesses } from "@sierra-exec/core";
import { describe, expect, it } from "vitest";
import { makeBatch } from "../src/batch-fixture.js";
import { maxOverlap } from "../src/overlap.js";
import { commandLine, waitFor } from "../src/processes.js";
import { readRecords } from "../src/records.js";

describe("maxOverlap", () => {
  it("counts intervals open at once; touching ends do not overlap", () => {
    expect(maxOverlap([])).toBe(0);
    expect(
      maxOverlap([
        [0, 10],
        [10, 20],
      ]),
    ).toBe(1);
    expect(
      maxOverlap([
        [0, 10],
        [5, 15],
        [6, 7],
        [14, 30],
      ]),
    ).toBe(3);
  });
});

describe("commandLine", () => {
  it("reads the command line of a process found by its marker", async () => {
    const value = `probe-${process.pid}-${Date.now()}`;
    const child = spawn("sleep", ["30"], { env: { ...process.env, TESTKIT_PROBE: value } });
    try {
      const [pid] = await waitFor(() => {
        const found = markedProcesses("TESTKIT_PROBE", value);
        return found.length > 0 && found;
      }, "the probe to start");
      expect(pid).toBe(child.pid);
      expect(commandLine(pid as number)).toBe("sleep 30");
    } finally {
      child.kill("SIGKILL");
    }
    await waitFor(() => markedProcesses("TESTKIT_PROBE", value).length === 0, "the probe to end");
  });
});

describe("readRecords", () => {
  it("checks every record against the contract", () => {
    const root = makeBatch({ a: ["true"] });
    mkdirSync(path.join(root, "statistics/exec"), { recursive: true });
    const record = {
      exp: "a",
      run: 0,
      command: "true",
      exitCode: 0,
      signal: null,
      startedAt: "2026-01-01T00:00:00.000Z",
      finishedAt: "2026-01-01T00:00:01.000Z",
      durationMs: 1000,
      attempt: 1,
      execenv: "x",
    };
    const file = path.join(root, "statistics/exec/runs.jsonl");
    writeFileSync(file, `${JSON.stringify(record)}\n`);
    expect(readRecords(root)).toEqual([record]);
    writeFileSync(file, `${JSON.stringify({ ...record, attempt: 0 })}\n`);
    expect(() => readRecords(root)).toThrow(/attempt/);
  });
});
