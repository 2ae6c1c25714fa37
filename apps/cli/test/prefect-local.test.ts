// The prefect.localserver execenv through the built CLI on a real Prefect 3 server,
// provisioned by the project as users get it (the first time takes about a minute). Each
// batch starts a server (seconds on a loaded machine): one batch serves several checks.
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { ensurePythonEnv } from "@sierra-exec/core";
import { prefectSpec } from "@sierra-exec/prefect3";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import {
  commandsWith,
  intervalOf,
  makeBatch,
  maxOverlap,
  newMarker,
  processesWith,
  read,
  readRecords,
  sierra,
  timedSleep,
  waitFor,
} from "./helpers.js";

const PREFECT = ["--execenv=prefect.localserver"];
const LONG = { timeout: 600_000 };

/** The batch's Prefect directory (database, logs, work directory). */
function prefectDir(root: string): string {
  const states = path.join(root, "scratch", ".prefect");
  const [dir] = readdirSync(states);
  return path.join(states, dir as string);
}

/** The flow runs (name, state) in the batch's kept Prefect database. */
async function flowRunsInDatabase(root: string): Promise<string[][]> {
  const query =
    "import sqlite3,sys,json; c=sqlite3.connect(sys.argv[1]); print(json.dumps(c.execute('select name, state_type from flow_run order by expected_start_time').fetchall()))";
  const { stdout } = await execa("python3", ["-c", query, path.join(prefectDir(root), "prefect.db")]);
  return JSON.parse(stdout);
}

describe("prefect.localserver", () => {
  it("runs a per-exp batch by the contract on ONE drain flow run, N at a time, experiments in order; a failure fails the flow run; resume", async () => {
    const root = makeBatch({
      a: Array.from({ length: 12 }, () => timedSleep(1)),
      b: ['test -f "$SIERRA_BATCH_ROOT/fixed"', "echo out-$SIERRA_EXP-$SIERRA_RUN; echo err >&2; pwd"],
    });
    const marker = newMarker();
    const args = [...PREFECT, "--batch-root", root, "--exec-jobs-per-node", "3"];
    const first = await sierra([...args, "--exec-parallelism-paradigm", "per-exp"], { marker, ...LONG });
    expect(first.exitCode, first.stderr).toBe(1);
    expect(processesWith(marker)).toEqual([]);
    expect(first.stderr).toMatch(/Prefect 3\.9\.1 UI: http:\/\/127\.0\.0\.1:\d+/);

    const records = readRecords(root);
    expect(records).toHaveLength(14);
    for (const record of records)
      expect(record).toMatchObject({ execenv: "prefect.localserver", attempt: 1 });
    const intervals = records
      .filter((record) => record.exp === "a")
      .map((record) => intervalOf(path.join(root, "scratch/a", `run${record.run}`, "stdout")));
    expect(maxOverlap(intervals)).toBe(3);
    // per-exp: b starts only once a is done.
    const aEnd = Math.max(...records.filter((r) => r.exp === "a").map((r) => Date.parse(r.finishedAt)));
    const bStart = Math.min(...records.filter((r) => r.exp === "b").map((r) => Date.parse(r.startedAt)));
    expect(bStart).toBeGreaterThanOrEqual(aEnd);
    expect(records.find((r) => r.exp === "b" && r.run === 0)).toMatchObject({ exitCode: 1, signal: null });
    expect(read(root, "scratch/b/run1/stdout")).toBe(`out-b-1\n${path.join(root, "exp-inputs/b")}\n`);
    expect(read(root, "scratch/b/run1/stderr")).toBe("err\n");
    expect(read(root, "scratch/joblog").trim().split("\n")).toHaveLength(15);
    // One drain served both experiments (one flow run, one events file); the failed run failed
    // its flow run; the kept database says so. Records name the drain's host.
    expect(await flowRunsInDatabase(root)).toEqual([[expect.stringMatching(/^sierra-[\w-]+\/1$/), "FAILED"]]);
    expect(readdirSync(path.join(prefectDir(root), "work", "events"))).toHaveLength(1);
    expect(new Set(records.map((record) => record.host))).toEqual(new Set([hostname()]));

    writeFileSync(path.join(root, "fixed"), "");
    const resumed = await sierra([...args, "--exec-resume", "--exp-range", "1:1"], { marker, ...LONG });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const after = readRecords(root);
    expect(after).toHaveLength(15);
    expect(after.at(-1)).toMatchObject({ exp: "b", run: 0, exitCode: 0, attempt: 2 });
    expect(processesWith(marker)).toEqual([]);
  }, 900_000);

  it("starts no worker: the drain flow run goes to the engine started beside the server and runs exactly once", async () => {
    const root = makeBatch({ a: ["true", 'echo once >> "$SIERRA_BATCH_ROOT/ran"'] });
    const marker = newMarker();
    const cli = sierra([...PREFECT, "--batch-root", root, "--verbose"], { marker, ...LONG });
    // Every process of the batch, sampled until it ends.
    const seen = new Set<string>();
    let running = true;
    void cli.finally(() => {
      running = false;
    });
    while (running) {
      for (const command of commandsWith(marker)) seen.add(command);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const result = await cli;
    expect(result.exitCode, result.stderr).toBe(0);
    const commands = [...seen];
    expect(commands.filter((command) => /prefect\.engine/.test(command))).toHaveLength(1);
    expect(commands.filter((command) => /\bworker\b/.test(command))).toEqual([]);
    expect(result.stderr).toMatch(/first run started [\d.]+s after the flow run was created/);
    expect(read(root, "ran")).toBe("once\n");
    // One flow run, run once (one engine start, one drain), and no worker ever registered. The
    // engine's logs reached the API (the UI shows them), its last one too.
    const query =
      "import sqlite3,sys,json; c=sqlite3.connect(sys.argv[1]); print(json.dumps([c.execute('select name, state_type, run_count from flow_run').fetchall(), c.execute('select count(*) from worker').fetchone()[0], [m for (m,) in c.execute('select message from log')]]))";
    const { stdout } = await execa("python3", ["-c", query, path.join(prefectDir(root), "prefect.db")]);
    const [flowRuns, workers, logs] = JSON.parse(stdout);
    expect(flowRuns).toEqual([[expect.stringMatching(/^sierra-[\w-]+\/1$/), "COMPLETED", 1]]);
    expect(workers).toBe(0);
    expect(logs).toContain("Finished in state Completed('2 runs completed')");
    const events = path.join(prefectDir(root), "work", "events");
    expect(readdirSync(events)).toHaveLength(1);
    expect(readRecords(root).map((record) => record.exitCode)).toEqual([0, 0]);
    expect(processesWith(marker)).toEqual([]);
  }, 600_000);

  it("--exec-strict: the first failure starts no new run and stops the running ones (--exec-devnull)", async () => {
    const root = makeBatch({ a: ["sleep 0.5; exit 7", "sleep 300", "true", "true", "true"] });
    const marker = newMarker();
    const result = await sierra(
      [...PREFECT, "--batch-root", root, "--exec-jobs-per-node", "2", "--exec-strict", "--exec-devnull"],
      {
        marker,
        ...LONG,
      },
    );
    expect(result.exitCode, result.stderr).toBe(1);
    expect(processesWith(marker)).toEqual([]);
    expect(readRecords(root).map((r) => [r.run, r.exitCode, r.signal])).toEqual([
      [0, 7, null],
      [1, null, "SIGTERM"],
    ]);
    expect(result.stderr).toMatch(/stopped after a\/run0 failed \(--exec-strict\)/);
    expect(result.stderr).toMatch(/3 not run/);
    expect(readRecords(root).map((r) => [r.stdout, r.stderr])).toEqual([
      [null, null],
      [null, null],
    ]);
    // No run's output directory: scratch/a holds only the GNU parallel joblog SIERRA's resume reads.
    expect(readdirSync(path.join(root, "scratch/a"))).toEqual(["parallel.log"]);
  }, 600_000);

  it("a batch whose runs exceed the server's 512 KiB of flow-run parameters runs: runs reach the flow by file", async () => {
    // 3,000 runs of about 400 bytes each: 1.2 MB as parameters, which the server refuses (HTTP 422).
    const padding = "x".repeat(300);
    const root = makeBatch({ a: Array.from({ length: 3000 }, (_, i) => `true ${i} # ${padding}`) });
    const marker = newMarker();
    const result = await sierra(
      [...PREFECT, "--batch-root", root, "--exec-jobs-per-node", "2", "--exec-devnull"],
      {
        marker,
        ...LONG,
      },
    );
    expect(result.exitCode, result.stderr.slice(-2000)).toBe(0);
    const records = readRecords(root);
    expect(records).toHaveLength(3000);
    expect(new Set(records.map((record) => record.run)).size).toBe(3000);
    expect(records.find((record) => record.run === 2999)?.command).toBe(`true 2999 # ${padding}`);
    // No line of the CLI's output is longer than a few hundred characters.
    expect(Math.max(...result.stderr.split("\n").map((line) => line.length))).toBeLessThan(500);
    expect(processesWith(marker)).toEqual([]);
  }, 900_000);

  it("two batches at once use their own servers; --keep-server serves its UI until Ctrl-C or SIGTERM", async () => {
    const batch = () => makeBatch({ e: Array.from({ length: 4 }, () => "sleep 1") });
    const [rootA, rootB] = [batch(), batch()];
    const [markerA, markerB] = [newMarker(), newMarker()];
    const common = ["--exec-jobs-per-node", "2"];
    const a = sierra([...PREFECT, "--batch-root", rootA, ...common, "--keep-server"], {
      marker: markerA,
      ...LONG,
    });
    const b = sierra([...PREFECT, "--batch-root", rootB, ...common], { marker: markerB, ...LONG });
    let stderrA = "";
    a.stderr?.on("data", (chunk) => {
      stderrA += chunk;
    });
    const resultB = await b;
    expect(resultB.exitCode, resultB.stderr).toBe(0);
    expect(processesWith(markerB)).toEqual([]);
    await waitFor(() => /press Ctrl-C/.test(stderrA), "the kept server", 300_000);
    const urlA = /UI: (http:\/\/127\.0\.0\.1:\d+)/.exec(stderrA)?.[1];
    const urlB = /UI: (http:\/\/127\.0\.0\.1:\d+)/.exec(resultB.stderr)?.[1];
    expect(urlA).toBeDefined();
    expect(urlA).not.toBe(urlB);
    const response = await fetch(`${urlA}/api/flow_runs/filter`, {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json" },
    });
    const flowRuns = (await response.json()) as Array<{ name: string; state_type: string }>;
    expect(flowRuns.map((run) => [run.name, run.state_type])).toEqual([
      [expect.stringMatching(/^sierra-[\w-]+\/1$/), "COMPLETED"],
    ]);
    expect(readRecords(rootA).every((record) => record.exitCode === 0)).toBe(true);
    a.kill("SIGTERM");
    const resultA = await a;
    expect(resultA.exitCode).toBe(143);
    expect(processesWith(markerA)).toEqual([]);
  }, 900_000);

  it("SIGINT in the middle of a batch stops the server, the engine and every run, and exits 130", async () => {
    const stubborn = 'trap "" TERM; sleep 300 & sleep 300; wait';
    const root = makeBatch({ a: ["true", stubborn, stubborn, stubborn] });
    const marker = newMarker();
    const cli = sierra(
      [...PREFECT, "--batch-root", root, "--exec-jobs-per-node", "2", "--kill-grace", "0.5"],
      {
        marker,
        ...LONG,
      },
    );
    const sleeping = () => commandsWith(marker).filter((command) => command === "sleep 300").length;
    await waitFor(() => sleeping() === 4, "the runs to start", 300_000);
    cli.kill("SIGINT");
    const result = await cli;
    expect(result.exitCode, result.stderr).toBe(130);
    expect(processesWith(marker)).toEqual([]);
    const stopped = readRecords(root).filter((record) => record.command === stubborn);
    expect(stopped).toHaveLength(2);
    for (const record of stopped) expect(record.signal).toBe("SIGKILL");
    expect(result.stderr).toMatch(/interrupted by SIGINT/);
  }, 600_000);

  it("SIGINT as soon as the flow run is created (its engine still loading it): exit 130, the flow run ends Cancelled, nothing is left", async () => {
    const root = makeBatch({ a: ["sleep 300", "sleep 300"] });
    const marker = newMarker();
    const cli = sierra([...PREFECT, "--batch-root", root, "--exec-jobs-per-node", "2"], { marker, ...LONG });
    let stderr = "";
    const created = (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!/flow run sierra-[\w-]+\/1: http/.test(stderr)) return;
      cli.stderr?.off("data", created);
      cli.kill("SIGINT");
    };
    cli.stderr?.on("data", created);
    const result = await cli;
    expect(result.exitCode, result.stderr).toBe(130);
    expect(await flowRunsInDatabase(root)).toEqual([
      [expect.stringMatching(/^sierra-[\w-]+\/1$/), "CANCELLED"],
    ]);
    expect(commandsWith(marker)).toEqual([]);
  }, 600_000);

  it("a CLI killed with SIGKILL leaves nothing behind: its watchdog stops the rest", async () => {
    const root = makeBatch({ a: ["sleep 300", "sleep 300"] });
    const marker = newMarker();
    const cli = sierra([...PREFECT, "--batch-root", root, "--exec-jobs-per-node", "2"], { marker, ...LONG });
    await waitFor(
      () => commandsWith(marker).filter((command) => command === "sleep 300").length === 2,
      "the runs",
      300_000,
    );
    cli.kill("SIGKILL");
    await cli;
    await waitFor(() => processesWith(marker).length === 0, "the batch's processes to be gone", 60_000);
  }, 600_000);

  it("a missing or broken Prefect: status 2 and one line", async () => {
    const root = makeBatch({ a: ["true"] });
    const broken = path.join(root, "python");
    // Claims to have Prefect 3.8.8 but fails as soon as it has to work.
    writeFileSync(
      broken,
      '#!/bin/sh\ncase "$*" in *importlib*) echo 3.8.8;; *) echo "ImportError: boom" >&2; exit 1;; esac\n',
      {
        mode: 0o755,
      },
    );
    const old = path.join(root, "old", "python3");
    mkdirSync(path.dirname(old));
    writeFileSync(old, "#!/bin/sh\necho 3.7.0\n", { mode: 0o755 });
    const cache = makeBatch({});
    for (const [python, message] of [
      ["/nonexistent/python3", /--prefect-python \/nonexistent\/python3: .*; pass --prefect-python PATH/],
      ["python3", /--prefect-python python3: Prefect is not installed there; pass --prefect-python PATH/],
      [broken, /Prefect 3\.8\.8 at .* is broken: its database migration failed \(ImportError: boom\)/],
      [
        old,
        /--prefect-python .*old\/python3 has Prefect 3\.7\.0, outside the tested range 3\.8\.8-3\.9\.x; pass --prefect-python PATH \(a Python with Prefect 3\.8\.8-3\.9\.x\)/,
      ],
    ] as const) {
      const result = await sierra([...PREFECT, "--batch-root", root, "--prefect-python", python], {
        env: { SIERRA_CACHE_DIR: cache },
      });
      expect(result.exitCode).toBe(2);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    }
  }, 300_000);

  it("uses a Prefect of the tested range found on PATH as it is, and says why it ignores one outside it", async () => {
    // The other tested version than the managed default, in a venv of its own (cached).
    const other = await ensurePythonEnv(prefectSpec("3.8.8"), { log: { info() {}, warn() {}, debug() {} } });
    const root = makeBatch({ a: ["true"] });
    const used = await sierra([...PREFECT, "--batch-root", root], {
      env: { PATH: `${other.bin}:${process.env.PATH}` },
      ...LONG,
    });
    expect(used.exitCode, used.stderr).toBe(0);
    expect(used.stderr).toMatch(/Prefect 3\.8\.8 UI: http:/);
    expect(readRecords(root)).toHaveLength(1);

    // A `prefect` on PATH whose Python has Prefect 3.7.0: one line, and the managed default.
    const second = makeBatch({ a: ["true"] });
    const fake = path.join(second, "fake");
    mkdirSync(fake);
    writeFileSync(path.join(fake, "python3"), "#!/bin/sh\necho 3.7.0\n", { mode: 0o755 });
    writeFileSync(path.join(fake, "prefect"), `#!${path.join(fake, "python3")}\n`, { mode: 0o755 });
    const managed = await sierra([...PREFECT, "--batch-root", second], {
      env: { PATH: `${fake}:${process.env.PATH}` },
      ...LONG,
    });
    expect(managed.exitCode, managed.stderr).toBe(0);
    expect(managed.stderr).toMatch(
      /Prefect 3\.7\.0 in .*fake\/python3 \(PATH\) is outside the tested range 3\.8\.8-3\.9\.x; using the managed 3\.9\.1\n/,
    );
    expect(managed.stderr).toMatch(/Prefect 3\.9\.1 UI: http:/);
  }, 600_000);
});
