import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { discoverBatch } from "../src/batch.js";
import { JOBLOG_HEADER, ParallelLogWriter, parallelLogPath, withParallelLogs } from "../src/parallel-log.js";
import { type RunRecord, readRunHistory, runsJsonlPath } from "../src/run-records.js";

function makeBatch(experiments: Record<string, string[]>): string {
  const root = mkdtempSync(path.join(tmpdir(), "sierra-batch-"));
  for (const [name, commands] of Object.entries(experiments)) {
    mkdirSync(path.join(root, "exp-inputs", name), { recursive: true });
    writeFileSync(path.join(root, "exp-inputs", name, "commands.txt"), `${commands.join("\n")}\n`);
  }
  return root;
}

const line = (seq: number, startS: number, exitval: number, signal: number, command: string) =>
  `${seq}\t:\t${startS.toFixed(3)}\t     1.000\t0\t0\t${exitval}\t${signal}\t${command}\n`;

describe("SIERRA hpc.local's joblogs as run history", () => {
  it("maps an experiment's joblog lines to its runs by command; the last attempt counts", () => {
    const root = makeBatch({ a: ["echo a0", "echo a1"], b: ["echo b0"] });
    mkdirSync(path.join(root, "scratch/a"), { recursive: true });
    writeFileSync(
      parallelLogPath(root, "a"),
      JOBLOG_HEADER +
        line(2, 100, 1, 0, "echo a1") +
        line(1, 100, 0, 0, "echo a0") +
        line(2, 200, 0, 0, "echo a1"),
    );
    const history = withParallelLogs(readRunHistory(root), discoverBatch(root));
    expect(history.last({ exp: "a", index: 0 })?.exitCode).toBe(0);
    expect(history.last({ exp: "a", index: 1 })).toMatchObject({ exitCode: 0, attempt: 2 });
    expect(history.attempts({ exp: "a", index: 1 })).toBe(2);
    expect(history.last({ exp: "b", index: 0 })).toBeUndefined();
  });

  it("maps the per-batch joblog's lines to the experiments they name, and to _batch", () => {
    const root = makeBatch({});
    for (const exp of ["a", "b"]) mkdirSync(path.join(root, "exp-inputs", exp), { recursive: true });
    const b0 = "cd exp-inputs/b && echo b0";
    writeFileSync(path.join(root, "commands.txt"), `${b0}\nrm -rf x\n`);
    mkdirSync(path.join(root, "scratch"), { recursive: true });
    writeFileSync(
      parallelLogPath(root),
      JOBLOG_HEADER + line(1, 100, -1, 15, b0) + line(2, 100, 0, 0, "rm -rf x"),
    );
    const history = withParallelLogs(readRunHistory(root), discoverBatch(root));
    expect(history.last({ exp: "b", index: 0 })).toMatchObject({ exitCode: null, signal: "SIGTERM" });
    expect(history.last({ exp: "_batch", index: 0 })).toMatchObject({ exitCode: 0, command: "rm -rf x" });
    expect(history.last({ exp: "a", index: 0 })).toBeUndefined();
  });

  it("our record wins unless the joblog's attempt ended later", () => {
    const root = makeBatch({ a: ["echo a0", "echo a1"] });
    const ours = (run: number, exitCode: number, finishedAt: string): RunRecord => ({
      exp: "a",
      run,
      command: `echo a${run}`,
      exitCode,
      signal: null,
      startedAt: finishedAt,
      finishedAt,
      durationMs: 0,
      attempt: 1,
      execenv: "local",
      host: "h",
      stdout: null,
      stderr: null,
    });
    mkdirSync(path.dirname(runsJsonlPath(root)), { recursive: true });
    appendFileSync(runsJsonlPath(root), `${JSON.stringify(ours(0, 0, "1970-01-01T00:05:00.000Z"))}\n`);
    appendFileSync(runsJsonlPath(root), `${JSON.stringify(ours(1, 0, "1970-01-01T00:01:00.000Z"))}\n`);
    mkdirSync(path.join(root, "scratch/a"), { recursive: true });
    // run 0 failed under SIERRA before ours succeeded; run 1 failed under SIERRA after
    writeFileSync(
      parallelLogPath(root, "a"),
      JOBLOG_HEADER + line(1, 100, 1, 0, "echo a0") + line(2, 200, 1, 0, "echo a1"),
    );
    const history = withParallelLogs(readRunHistory(root), discoverBatch(root));
    expect(history.last({ exp: "a", index: 0 })?.execenv).toBe("local");
    expect(history.last({ exp: "a", index: 1 })).toMatchObject({ execenv: "gnu-parallel", exitCode: 1 });
  });

  it("writes our attempts with the Seq GNU parallel gives the run's line (blank and # lines count)", () => {
    const root = makeBatch({ a: ["# comment", "", "echo a0", "echo a1"] });
    const writer = new ParallelLogWriter(discoverBatch(root), true);
    writer.write("a", 1, ":\t1.000\t     0.500\t0\t0\t0\t0\techo a1\n");
    writer.close();
    expect(readFileSync(parallelLogPath(root, "a"), "utf8")).toBe(
      `${JOBLOG_HEADER}4\t:\t1.000\t     0.500\t0\t0\t0\t0\techo a1\n`,
    );
  });

  it("tells identical lines apart by their Seq, writing and reading", () => {
    const root = makeBatch({ a: ["sleep 1", "sleep 1", "sleep 1"] });
    const writer = new ParallelLogWriter(discoverBatch(root), true);
    writer.write("a", 2, ":\t100.000\t     1.000\t0\t0\t1\t0\tsleep 1\n");
    writer.write("a", 0, ":\t100.000\t     1.000\t0\t0\t0\t0\tsleep 1\n");
    writer.close();
    const log = readFileSync(parallelLogPath(root, "a"), "utf8");
    expect(
      log
        .split("\n")
        .slice(1, 3)
        .map((line) => line.split("\t")[0]),
    ).toEqual(["3", "1"]);
    const history = withParallelLogs(readRunHistory(root), discoverBatch(root));
    expect(history.last({ exp: "a", index: 0 })).toMatchObject({ exitCode: 0, attempt: 1 });
    expect(history.last({ exp: "a", index: 1 })).toBeUndefined();
    expect(history.last({ exp: "a", index: 2 })).toMatchObject({ exitCode: 1, attempt: 1 });
  });
});
