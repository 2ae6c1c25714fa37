// The CLI side of drains without a Prefect server: following several events files with torn
// lines, the work directory's re-queue of a dead drain's runs, and Drains driving real drains
// started as plain processes (test/python/plain_drain.py) in place of flow runs.
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  CORE_PYTHON_DIR,
  type ExecuteContext,
  type Logger,
  type Run,
  type RunOutcome,
} from "@sierra-exec/core";
import { execa, type ResultPromise } from "execa";
import { afterEach, describe, expect, it } from "vitest";
import { EventsFollower } from "../src/drain-events.js";
import { type DrainBackend, type DrainSettings, Drains } from "../src/drains.js";
import { FLOW_DIR } from "../src/setup-api.js";
import { WorkDir } from "../src/work-dir.js";

const PLAIN_DRAIN = path.join(import.meta.dirname, "python", "plain_drain.py");

const run = (index: number, command: string, root: string): Run => ({
  id: `e/run${index}`,
  exp: "e",
  index,
  seq: index + 1,
  command,
  cwd: root,
  env: { SIERRA_RUN: String(index) },
  stdout: null,
  stderr: null,
});

/** A backend whose drains are made by the test: no flow run is created, the API is never called. */
const backend = (overrides: Partial<DrainBackend> = {}): DrainBackend => ({
  client: undefined as never,
  deploymentId: "",
  uiUrl: "",
  failure: () => undefined,
  serving: () => true,
  ensureDrains: async () => {},
  pickup: { seconds: 60, error: "no drain" },
  ...overrides,
});

// The drains' watchdogs sweep every process marked with it: unique, so that another suite's
// processes (running at the same time under turbo) are never taken for this one's.
const EXECUTION_ID = `drains-test-${process.pid}`;

const settings = (workDir: string, log: Logger, strict = false): DrainSettings => ({
  workDir,
  executionId: EXECUTION_ID,
  jobs: 2,
  totalJobs: 0,
  killGrace: 1,
  strict,
  drainTimeout: 3,
  log,
});

describe("following drains' events files", () => {
  it("reads each file's complete lines, keeps torn ones for later, and picks up new files", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "events-"));
    const follower = new EventsFollower(dir);
    appendFileSync(path.join(dir, "d1.jsonl"), '{"heartbeat":1}\n{"started":"e/run0","set":1,"ind');
    expect(follower.read()).toEqual([{ file: "d1", events: [{ heartbeat: 1 }] }]);
    appendFileSync(path.join(dir, "d1.jsonl"), 'ex":0,"pid":7,"at":2}\n');
    appendFileSync(path.join(dir, "d2.jsonl"), '{"bye":3}\n{"heart');
    expect(follower.read()).toEqual([
      { file: "d1", events: [{ started: "e/run0", set: 1, index: 0, pid: 7, at: 2 }] },
      { file: "d2", events: [{ bye: 3 }] },
    ]);
    // A file that grew by a torn line only: it is alive, with no complete event yet.
    appendFileSync(path.join(dir, "d2.jsonl"), "beat");
    expect(follower.read()).toEqual([{ file: "d2", events: [] }]);
    expect(follower.read()).toEqual([]);
    follower.close();
  });

  it("skips lines that are not events, warns once, and reads on", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "events-"));
    const warnings: string[] = [];
    const follower = new EventsFollower(dir, (line) => warnings.push(line));
    appendFileSync(path.join(dir, "d1.jsonl"), '{"heartbeat":1}\n\u0000\u0000\n{"bye":2}\n{not json}\n');
    expect(follower.read()).toEqual([{ file: "d1", events: [{ heartbeat: 1 }, { bye: 2 }] }]);
    expect(warnings).toEqual(["d1.jsonl: skipped a line that is not an event: \u0000\u0000"]);
    follower.close();
  });
});

describe("Drains following events files", () => {
  it("takes the end of a run that failed before the ends of runs drains stopped, whichever file comes first", async () => {
    const root = mkdtempSync(path.join(tmpdir(), "drains-"));
    const workDir = path.join(root, "work");
    const log = { info: () => {}, warn: () => {}, debug: () => {} };
    const drains = new Drains(backend(), settings(workDir, log, true));
    // Each drain's whole events file is there at the first read: for every order of the files,
    // run 0 (it failed) must end first. Several drains stopped their runs because of it.
    const lines = (id: string, index: number, end: object) =>
      [
        { drain: id, host: id, pid: 1, flowRun: null, at: 1 },
        { started: `e/run${index}`, set: 1, index, pid: 10 + index, at: 1 },
        { ended: `e/run${index}`, set: 1, index, signal: null, startedAt: 1, at: 2, ...end },
      ]
        .map((event) => `${JSON.stringify(event)}\n`)
        .join("");
    const ends: string[] = [];
    const ctx = {
      log,
      signal: new AbortController().signal,
      runStarted: () => {},
      runEnded: (r: Run) => ends.push(r.id),
    } as unknown as ExecuteContext<unknown, unknown>;
    const events = path.join(workDir, "events");
    for (const [index, id] of ["a", "b", "c", "d", "e", "f"].entries()) {
      const end = index === 3 ? { code: 5 } : { code: null, signal: "SIGTERM", stopped: true };
      writeFileSync(path.join(events, `${id}.jsonl`), lines(id, index, end));
    }
    await drains.executeSet(
      [0, 1, 2, 3, 4, 5].map((index) => run(index, "true", root)),
      ctx,
    );
    expect(ends[0]).toBe("e/run3");
    expect(ends.sort()).toEqual([0, 1, 2, 3, 4, 5].map((index) => `e/run${index}`));
  });
});

describe("Drains re-queueing a dead drain's runs", () => {
  it("re-queues the runs it claimed at once, those it started only after the kill grace and a second", async () => {
    const root = mkdtempSync(path.join(tmpdir(), "drains-"));
    const workDir = path.join(root, "work");
    const warnings: Array<[string, number]> = [];
    const log = {
      info: () => {},
      warn: (line: string) => warnings.push([line, Date.now()]),
      debug: () => {},
    };
    const drains = new Drains(backend(), { ...settings(workDir, log), drainTimeout: 0.5 });
    // Drain "a" claimed runs 0 and 1, started run 0, then fell silent.
    const claims = path.join(workDir, "claims", "1");
    mkdirSync(claims, { recursive: true });
    for (const index of [0, 1]) writeFileSync(path.join(claims, String(index)), "a");
    writeFileSync(
      path.join(workDir, "events", "a.jsonl"),
      [
        { drain: "a", host: "h1", pid: 1, flowRun: null, at: 1 },
        { started: "e/run0", set: 1, index: 0, pid: 10, at: 1 },
      ]
        .map((event) => `${JSON.stringify(event)}\n`)
        .join(""),
    );
    const aborting = new AbortController();
    const ctx = {
      log,
      signal: aborting.signal,
      runStarted: () => {},
      runEnded: () => {},
    } as unknown as ExecuteContext<unknown, unknown>;
    const executing = drains.executeSet([run(0, "true", root), run(1, "true", root)], ctx);
    while (warnings.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const [warning, declaredAt] = warnings[0] as [string, number];
    expect(warning).toMatch(/declared dead; its runs e\/run0, e\/run1 go to another drain$/);
    expect(readdirSync(claims).sort()).toEqual(["0", "1.lost-a"]);
    while (!readdirSync(claims).includes("0.lost-a")) await new Promise((resolve) => setTimeout(resolve, 10));
    // killGrace (1 s) + 1 s: a drain that is in fact alive has stopped its copy by then.
    expect(Date.now() - declaredAt).toBeGreaterThanOrEqual(2000);
    aborting.abort();
    await executing;
    await drains.finish();
  });
});

describe("the work directory", () => {
  it("re-queues exactly the unended runs a dead drain claimed, and frees its host and slots", () => {
    const work = new WorkDir(mkdtempSync(path.join(tmpdir(), "work-")));
    const root = work.dir;
    work.writeSet(
      1,
      [0, 1, 2, 3].map((index) => run(index, "true", root)),
    );
    const claims = path.join(root, "claims", "1");
    for (const [index, drain] of [
      [0, "x"],
      [1, "x"],
      [2, "y"],
      [3, "x"],
    ] as const)
      writeFileSync(path.join(claims, String(index)), drain);
    writeFileSync(path.join(root, "hosts", "h1"), JSON.stringify({ drain: "x", pid: 1 }));
    writeFileSync(path.join(root, "hosts", "h2"), JSON.stringify({ drain: "y", pid: 2 }));
    writeFileSync(path.join(root, "slots", "0"), "x");
    writeFileSync(path.join(root, "slots", "1"), "y");
    // Run 0 of x has ended: it stays x's.
    work.declareDead("x", "h1");
    expect(work.requeue("x", 1, new Set([1, 2, 3]))).toEqual([1, 3]);
    expect(readdirSync(claims).sort()).toEqual(["0", "1.lost-x", "2", "3.lost-x"]);
    expect(readdirSync(path.join(root, "hosts"))).toEqual(["h2"]);
    expect(readdirSync(path.join(root, "slots"))).toEqual(["1"]);
    expect(readdirSync(path.join(root, "dead"))).toEqual(["x"]);
    // A run withheld from the drains can no longer be claimed; one claimed already cannot be withheld.
    expect(work.withhold(1, 1)).toBe(true);
    expect(work.withhold(1, 2)).toBe(false);
  });
});

describe("Drains on plain drain processes", () => {
  const started: ResultPromise[] = [];
  afterEach(async () => {
    for (const drain of started) drain.kill("SIGKILL");
    await Promise.allSettled(started);
  });

  it("ends the runs no drain takes within the pickup time as failed, and no drain can take them later", async () => {
    const root = mkdtempSync(path.join(tmpdir(), "drains-"));
    const log = { info: () => {}, warn: () => {}, debug: () => {} };
    const drains = new Drains(
      backend({ pickup: { seconds: 1, error: "no worker of pool p took the batch's flow run within 1 s" } }),
      settings(path.join(root, "work"), log),
    );
    const ended: Array<[string, RunOutcome]> = [];
    const ctx = {
      log,
      signal: new AbortController().signal,
      runStarted: () => {},
      runEnded: (r: Run, outcome: RunOutcome) => ended.push([r.id, outcome]),
    } as unknown as ExecuteContext<unknown, unknown>;
    await drains.executeSet([run(0, "true", root), run(1, "true", root)], ctx);
    await drains.finish();
    expect(ended).toEqual(
      ["e/run0", "e/run1"].map((id) => [
        id,
        { exitCode: null, signal: null, error: "no worker of pool p took the batch's flow run within 1 s" },
      ]),
    );
    expect(readdirSync(path.join(root, "work", "claims", "1")).sort()).toEqual(["0", "1"]);
  });

  it("declares a killed drain dead, re-queues its runs, and a new drain runs them: one end each", async () => {
    const root = mkdtempSync(path.join(tmpdir(), "drains-"));
    const workDir = path.join(root, "work");
    const warnings: string[] = [];
    const log = { info: () => {}, warn: (line: string) => warnings.push(line), debug: () => {} };
    const hosts = ["h1", "h2"];
    const drains = new Drains(
      backend({
        // In place of a flow run, a plain drain process on the next "host".
        ensureDrains: async (view) => {
          // One at a time: none while one serves or one started has not said hello yet.
          if (view.live.length > 0 || drains.known.length < started.length || started.length >= hosts.length)
            return;
          const host = hosts[started.length] as string;
          started.push(
            execa("python3", [PLAIN_DRAIN, workDir, "2", "0", "0", EXECUTION_ID], {
              env: {
                PYTHONPATH: `${CORE_PYTHON_DIR}:${FLOW_DIR}`,
                SIERRA_DRAIN_HOSTNAME: host,
                PYTHONDONTWRITEBYTECODE: "1",
              },
              reject: false,
            }),
          );
        },
      }),
      settings(workDir, log),
    );
    const runs = [0, 1, 2, 3].map((index) => run(index, `sleep 3; echo $SIERRA_RUN >> ${root}/ran`, root));
    const ended = new Map<string, RunOutcome>();
    const ctx = {
      log,
      signal: new AbortController().signal,
      runStarted: () => {},
      runEnded: (r: Run, outcome: RunOutcome) => {
        expect(ended.has(r.id)).toBe(false);
        ended.set(r.id, outcome);
      },
    } as unknown as ExecuteContext<unknown, unknown>;
    const executing = drains.executeSet(runs, ctx);
    // Kill the first drain as soon as its first two runs have started.
    const events = path.join(workDir, "events");
    for (;;) {
      const [file] = readdirSync(events);
      if (file && (readFileSync(path.join(events, file), "utf8").match(/"started"/g) ?? []).length === 2)
        break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    started[0]?.kill("SIGKILL");
    await executing;
    await drains.finish();
    expect([...ended.values()].map((outcome) => [outcome.exitCode, outcome.host])).toEqual(
      Array.from({ length: 4 }, () => [0, "h2"]),
    );
    expect(warnings).toEqual([
      expect.stringMatching(
        /^drain h1-\d+-\w+ on host h1 wrote nothing for 3s: declared dead; its runs e\/run0, e\/run1 go to another drain$/,
      ),
    ]);
    // The killed drain's runs were stopped by its watchdog before they wrote to `ran`.
    expect(readFileSync(path.join(root, "ran"), "utf8").trim().split("\n").sort()).toEqual([
      "0",
      "1",
      "2",
      "3",
    ]);
    expect((await started[1])?.stdout).toMatch(/"how": "completed"/);
  }, 60_000);
});
