// The execution contract through the built CLI on the local execenv, with real processes.
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { execaSync } from "execa";
import { describe, expect, it } from "vitest";
import { intervalOf, makeBatch, maxOverlap, read, readRecords, sierra, timedSleep } from "./helpers.js";

describe("layout and environment", () => {
  it("runs each non-blank, non-comment line with the contract's cwd and variables", async () => {
    const root = makeBatch({
      "c1-exp0": [
        "# a comment",
        "",
        'echo "$SIERRA_EXP $SIERRA_RUN $SIERRA_BATCH_ROOT $(pwd) $CALLER_VAR"',
        "echo second",
      ],
    });
    const result = await sierra(["--batch-root", root], { env: { CALLER_VAR: "kept" } });
    expect(result.exitCode).toBe(0);
    const out = read(root, "scratch/c1-exp0/run0/stdout").trim();
    expect(out).toBe(`c1-exp0 0 ${root} ${path.join(root, "exp-inputs/c1-exp0")} kept`);
    expect(read(root, "scratch/c1-exp0/run1/stdout")).toBe("second\n");
    expect(existsSync(path.join(root, "scratch/c1-exp0/run2"))).toBe(false);
  });

  it("starts runs with no signal ignored or blocked, as a shell would", async () => {
    const root = makeBatch({ e: ["grep -E '^Sig(Ign|Blk)' /proc/$$/status", "yes | head -3 | wc -l"] });
    expect((await sierra(["--batch-root", root])).exitCode).toBe(0);
    const [blocked, ignored] = read(root, "scratch/e/run0/stdout")
      .trim()
      .split("\n")
      .map((line) => BigInt(`0x${line.split("\t")[1]}`));
    expect(blocked).toBe(0n);
    // Signals 32 and 33 are glibc's own (below SIGRTMIN), left ignored by any posix_spawn
    // and re-claimed by glibc in every program it starts; no program can use them.
    expect((ignored as bigint) & ~(0b11n << 31n)).toBe(0n);
    expect(read(root, "scratch/e/run1/stdout")).toBe("3\n");
  });

  it("runs the lines of the per-batch cmdfile that name no experiment as experiment _batch in the batch root", async () => {
    const root = makeBatch({}, ['echo "$SIERRA_EXP $(pwd)"']);
    const result = await sierra(["--batch-root", root]);
    expect(result.exitCode).toBe(0);
    expect(read(root, "scratch/_batch/run0/stdout").trim()).toBe(`_batch ${root}`);
  });

  it("orders experiments naturally (c1-exp2 before c1-exp10)", async () => {
    const root = makeBatch({ "c1-exp10": ["echo"], "c1-exp2": ["echo"], "c1-exp1": ["echo"] });
    const result = await sierra(["--batch-root", root, "--dry-run"]);
    expect(result.stdout.split("\n").map((line) => line.split("\t")[0])).toEqual([
      "c1-exp1/run0",
      "c1-exp2/run0",
      "c1-exp10/run0",
    ]);
  });
});

describe("outputs and records", () => {
  it("keeps stdout and stderr per run and writes one record and one joblog line per attempt", async () => {
    const root = makeBatch({ a: ["echo out; echo err >&2", "exit 3"], b: ["kill -TERM $$"] });
    const result = await sierra(["--batch-root", root, "--exec-jobs-per-node", "2"]);
    expect(result.exitCode).toBe(1);
    expect(read(root, "scratch/a/run0/stdout")).toBe("out\n");
    expect(read(root, "scratch/a/run0/stderr")).toBe("err\n");

    const records = readRecords(root);
    expect(records).toHaveLength(3);
    const byId = Object.fromEntries(records.map((r) => [`${r.exp}/${r.run}`, r]));
    expect(byId["a/0"]).toMatchObject({ command: "echo out; echo err >&2", exitCode: 0, signal: null });
    expect(byId["a/1"]).toMatchObject({ exitCode: 3, signal: null, attempt: 1, execenv: "local" });
    expect(byId["b/0"]).toMatchObject({ exitCode: null, signal: "SIGTERM" });
    for (const record of records) {
      expect(Date.parse(record.finishedAt) - Date.parse(record.startedAt)).toBe(record.durationMs);
      expect(record.stdout).toBe(path.join(root, "scratch", record.exp, `run${record.run}`, "stdout"));
    }

    const [header, ...lines] = read(root, "scratch/joblog").trim().split("\n");
    expect(header).toBe("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand");
    const rows = lines.map((line) => line.split("\t"));
    expect(rows.map((row) => Number(row[0])).sort()).toEqual([1, 2, 3]);
    const row = (seq: number) => rows.find((r) => Number(r[0]) === seq) as string[];
    expect(row(1).slice(4, 9)).toEqual(["0", "4", "0", "0", "echo out; echo err >&2"]);
    expect(row(2).slice(6, 8)).toEqual(["3", "0"]);
    expect(row(3).slice(6, 8)).toEqual(["0", "15"]);
    expect(Number(row(1)[2])).toBeCloseTo(Date.parse(byId["a/0"]?.startedAt ?? "") / 1000, 2);
  });

  it("--exec-devnull keeps no output files", async () => {
    const root = makeBatch({ a: ["echo out; echo err >&2"] });
    expect((await sierra(["--batch-root", root, "--exec-devnull"])).exitCode).toBe(0);
    expect(existsSync(path.join(root, "scratch/a/run0/stdout"))).toBe(false);
    expect(existsSync(path.join(root, "scratch/a/run0/stderr"))).toBe(false);
    expect(readRecords(root)[0]).toMatchObject({ exitCode: 0, stdout: null, stderr: null });
  });

  it("starts fresh records without --exec-resume", async () => {
    const root = makeBatch({ a: ["true", "true"] });
    await sierra(["--batch-root", root]);
    await sierra(["--batch-root", root]);
    expect(readRecords(root)).toHaveLength(2);
    expect(read(root, "scratch/joblog").trim().split("\n")).toHaveLength(3);
  });

  it("records a run that cannot start as failed, with the reason", async () => {
    const root = makeBatch({ a: ["true"] });
    // The interpreter itself, not a shim: a shim would need the bash this test takes away.
    const python = execaSync("python3", ["-c", "import sys; print(sys.executable)"]).stdout;
    const result = await sierra(["--batch-root", root, "--python", python], {
      env: { PATH: "/nonexistent" },
    });
    expect(result.exitCode).toBe(1);
    const [record] = readRecords(root);
    expect(record).toMatchObject({ exitCode: null, signal: null });
    expect(record?.error).toMatch(/could not start: .*bash/);
    expect(result.stderr).toMatch(/a\/run0 failed \(could not start/);
  });
});

describe("selection", () => {
  it("--exp-range runs experiments A..B only, 0-based and inclusive", async () => {
    const root = makeBatch({ e0: ["true"], e1: ["true"], e2: ["true"], e3: ["true"] });
    expect((await sierra(["--batch-root", root, "--exp-range", "1:2"])).exitCode).toBe(0);
    expect(
      readRecords(root)
        .map((r) => r.exp)
        .sort(),
    ).toEqual(["e1", "e2"]);
    const open = await sierra(["--batch-root", root, "--exp-range", "2:", "--dry-run"]);
    expect(open.stdout.trim().split("\n")).toEqual(["e2/run0\ttrue", "e3/run0\ttrue"]);
  });

  it("--exec-resume reruns only what did not succeed, counting attempts", async () => {
    const root = makeBatch({ a: ["true", 'test -f "$SIERRA_BATCH_ROOT/fixed"', "true"] });
    expect((await sierra(["--batch-root", root])).exitCode).toBe(1);
    const dry = await sierra(["--batch-root", root, "--exec-resume", "--dry-run"]);
    expect(dry.stdout.trim()).toBe('a/run1\ttest -f "$SIERRA_BATCH_ROOT/fixed"');
    writeFileSync(path.join(root, "fixed"), "");
    const resumed = await sierra(["--batch-root", root, "--exec-resume"]);
    expect(resumed.exitCode).toBe(0);
    const records = readRecords(root);
    expect(records).toHaveLength(4);
    expect(records[3]).toMatchObject({ exp: "a", run: 1, exitCode: 0, attempt: 2 });
    expect(read(root, "scratch/joblog").trim().split("\n")).toHaveLength(5);
    const again = await sierra(["--batch-root", root, "--exec-resume"]);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).toBe("sierra: nothing to run: all 3 selected runs succeeded before");
  });
});

describe("concurrency and paradigms", () => {
  it("runs exactly --exec-jobs-per-node at once", async () => {
    const root = makeBatch({ a: Array(9).fill(timedSleep(0.6)) });
    expect((await sierra(["--batch-root", root, "--exec-jobs-per-node", "3"])).exitCode).toBe(0);
    const intervals = Array.from({ length: 9 }, (_, i) =>
      intervalOf(path.join(root, `scratch/a/run${i}/stdout`)),
    );
    expect(maxOverlap(intervals)).toBe(3);
  });

  it("per-exp runs experiments one after another; per-batch shares one pool", async () => {
    const experiments = { e0: [timedSleep(0.4), timedSleep(0.4)], e1: [timedSleep(0.4), timedSleep(0.4)] };
    const spans = (root: string, exp: string) =>
      [0, 1].map((i) => intervalOf(path.join(root, `scratch/${exp}/run${i}/stdout`)));

    const perExp = makeBatch(experiments);
    const args = ["--exec-jobs-per-node", "4", "--exec-parallelism-paradigm"];
    expect((await sierra(["--batch-root", perExp, ...args, "per-exp"])).exitCode).toBe(0);
    const lastEnd0 = Math.max(...spans(perExp, "e0").map(([, end]) => end));
    const firstStart1 = Math.min(...spans(perExp, "e1").map(([start]) => start));
    expect(firstStart1).toBeGreaterThanOrEqual(lastEnd0);

    const perBatch = makeBatch(experiments);
    expect((await sierra(["--batch-root", perBatch, ...args, "per-batch"])).exitCode).toBe(0);
    expect(maxOverlap([...spans(perBatch, "e0"), ...spans(perBatch, "e1")])).toBe(4);
  });
});
