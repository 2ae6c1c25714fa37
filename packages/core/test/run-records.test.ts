import { appendFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  joblogPath,
  RecordWriter,
  type RunRecord,
  readRunHistory,
  runsJsonlPath,
} from "../src/run-records.js";

const record = (run: number, exitCode: number | null, attempt = 1): RunRecord => ({
  exp: "e",
  run,
  command: `cmd ${run}`,
  exitCode,
  signal: exitCode === null ? "SIGKILL" : null,
  startedAt: "2026-01-01T00:00:00.000Z",
  finishedAt: "2026-01-01T00:00:01.500Z",
  durationMs: 1500,
  attempt,
  execenv: "test",
  host: "h",
  stdout: null,
  stderr: null,
});

describe("run records", () => {
  it("writes runs.jsonl and a GNU parallel joblog line per attempt", () => {
    const root = mkdtempSync(path.join(tmpdir(), "records-"));
    const writer = new RecordWriter(root, true);
    writer.write(record(0, 0), 1);
    writer.write(record(1, null), 2);
    writer.close();
    const lines = readFileSync(joblogPath(root), "utf8").split("\n");
    expect(lines[0]).toBe("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand");
    expect(lines[1]).toBe("1\t:\t1767225600.000\t     1.500\t0\t0\t0\t0\tcmd 0");
    expect(lines[2]).toBe("2\t:\t1767225600.000\t     1.500\t0\t0\t0\t9\tcmd 1");
    expect(readRunHistory(root).last({ exp: "e", index: 1 })?.signal).toBe("SIGKILL");
  });

  it("tolerates a torn last line and appends after it on a fresh line", () => {
    const root = mkdtempSync(path.join(tmpdir(), "records-"));
    const first = new RecordWriter(root, true);
    first.write(record(0, 1), 1);
    first.close();
    appendFileSync(runsJsonlPath(root), '{"exp":"e","run":0,"exitCo');
    const history = readRunHistory(root);
    expect(history.attempts({ exp: "e", index: 0 })).toBe(1);
    expect(history.last({ exp: "e", index: 0 })?.exitCode).toBe(1);

    const resumed = new RecordWriter(root, false);
    resumed.write(record(0, 0, 2), 1);
    resumed.close();
    const after = readRunHistory(root);
    expect(after.attempts({ exp: "e", index: 0 })).toBe(2);
    expect(after.last({ exp: "e", index: 0 })?.exitCode).toBe(0);
    expect(readFileSync(joblogPath(root), "utf8").match(/^Seq/gm)).toHaveLength(1);
  });

  it("numbers in the joblog every signal the execenvs name as bash does", () => {
    const root = mkdtempSync(path.join(tmpdir(), "records-"));
    const writer = new RecordWriter(root, true);
    const names = ["SIGHUP", "SIGRTMIN", "SIGRTMIN+1", "SIGRTMIN+15", "SIGRTMAX-14", "SIGRTMAX", "SIG32"];
    names.forEach((signal, i) => {
      writer.write({ ...record(i, null), signal }, i + 1);
    });
    writer.close();
    const numbers = readFileSync(joblogPath(root), "utf8")
      .trim()
      .split("\n")
      .slice(1)
      .map((line) => line.split("\t")[7]);
    expect(numbers).toEqual(["1", "34", "35", "49", "50", "64", "32"]);
  });
});
