// The prefect.server execenv through the built CLI, on a real shared Prefect 3 server with
// basic auth, bound to the bridge of 3 test hosts (network + UTS namespaces), a plain process
// worker on each (`prefect worker start --pool sierra-pool`, nothing of ours installed there).
// One cluster for the file; each test is a batch (or two) on it.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { markedProcesses, type RunRecord } from "@sierra-exec/core";
import { commandLine } from "@sierra-exec/execenv-testkit";
import { findPrefect } from "@sierra-exec/prefect3";
import { type PrefectTestCluster, startPrefectTestCluster } from "@sierra-exec/prefect3/test-cluster";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  commandsWith,
  intervalOf,
  makeBatch,
  maxOverlap,
  newMarker,
  processesWith,
  readRecords,
  sierra,
  timedSleep,
  waitFor,
} from "./helpers.js";

const POOL = "sierra-pool";
const LONG = { timeout: 600_000 };

let cluster: PrefectTestCluster;
/** Each host's worker process. */
const workers = new Map<string, number>();

beforeAll(async () => {
  const log = { info: () => {}, warn: () => {}, debug: () => {} };
  const { python } = await findPrefect(undefined, { log, signal: new AbortController().signal });
  // The suite's after-each sweep (test/setup.ts) must not take the cluster's server down.
  const suite = process.env.SIERRA_TEST_SUITE;
  delete process.env.SIERRA_TEST_SUITE;
  try {
    cluster = await startPrefectTestCluster({ hosts: 3, python });
    for (const host of cluster.hosts)
      workers.set(host.name, (await cluster.startWorker(host, { pool: POOL })).pid);
  } finally {
    process.env.SIERRA_TEST_SUITE = suite;
  }
}, 600_000);
afterAll(() => cluster?.stop(), 120_000);

const hostNames = () => cluster.hosts.map((host) => host.name).sort();

/** The CLI on the cluster, with its credentials in the environment as a lab sets them. */
function batch(root: string, args: string[], { marker = newMarker(), env = {} as NodeJS.ProcessEnv } = {}) {
  return sierra(["--execenv=prefect.server", "--batch-root", root, "--kill-grace", "0.5", ...args], {
    marker,
    env: { PREFECT_API_URL: cluster.apiUrl, PREFECT_API_AUTH_STRING: cluster.authString, ...env },
    ...LONG,
  });
}

/** The execution id of a batch root's (only) prefect.server execution. */
const executionOf = (root: string) => readdirSync(path.join(root, "scratch", ".prefect-server"))[0] as string;

const startedAt = (record: RunRecord) => Date.parse(record.startedAt);
const span = (record: RunRecord): [number, number] => [startedAt(record), Date.parse(record.finishedAt)];

/** Most runs at once on each host, from the records (times from each host's clock). */
function overlapByHost(records: RunRecord[]): Record<string, number> {
  const hosts = [...new Set(records.map((record) => record.host))];
  return Object.fromEntries(
    hosts.map((host) => [host, maxOverlap(records.filter((record) => record.host === host).map(span))]),
  );
}

/** The flow runs of an execution as the server has them: name and state. */
async function flowRunsOf(executionId: string): Promise<{ name: string; state_type: string }[]> {
  const response = await fetch(`${cluster.apiUrl}/flow_runs/filter`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Basic ${Buffer.from(cluster.authString).toString("base64")}`,
    },
    body: JSON.stringify({ flow_runs: { tags: { all_: [executionId] } } }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { name: string; state_type: string }[];
}

/**
 * Nothing of the batch on any host: no run (they carry the test's marker), no drain engine or
 * drain watchdog (they carry the file of the batch's caller environment in theirs).
 */
async function nothingLeft(marker: string, root: string) {
  expect(commandsWith(marker)).toEqual([]);
  const files = readdirSync(path.join(root, "scratch/.prefect-server")).map((execution) =>
    path.join(root, "scratch/.prefect-server", execution, "caller-env.json"),
  );
  // The drains' engines end once they have stopped their runs and said so.
  await waitFor(
    () => files.every((file) => markedProcesses("SIERRA_RESTORE_ENV_FILE", file).length === 0),
    "the batch's drains to end",
    60_000,
  );
  for (const host of cluster.hosts) expect(host.pids()).toContain(workers.get(host.name));
}

/** Resolves once `count` processes `sleep 300` carry `marker`. */
const sleeping = (marker: string, count: number, what: string) =>
  waitFor(
    () => commandsWith(marker).filter((command) => command === "sleep 300").length === count,
    what,
    300_000,
  );

/** A run that waits (at most 120 s) until runs have started on `hosts` hosts, so that they all take part. */
const untilHosts = (hosts: number, then: string) =>
  `touch "$SIERRA_BATCH_ROOT/host-$(hostname)"; for i in $(seq 600); do [ "$(ls "$SIERRA_BATCH_ROOT" | grep -c '^host-')" -ge ${hosts} ] && break; sleep 0.2; done; ${then}`;
const untilEveryHost = (then: string) => untilHosts(3, then);

describe("prefect.server on a shared server with workers on 3 hosts", () => {
  it("spreads the runs over every host, at most N on each, records the host; a failed run exits 1; resume re-runs it", async () => {
    const root = makeBatch({
      a: [
        ...Array.from({ length: 11 }, () => untilEveryHost("sleep 1")),
        'test -f "$SIERRA_BATCH_ROOT/fixed"',
      ],
      b: ["echo out-$SIERRA_EXP-$SIERRA_RUN; hostname"],
    });
    const marker = newMarker();
    const first = await batch(root, ["--exec-jobs-per-node", "2"], { marker });
    expect(first.exitCode, first.stderr).toBe(1);
    await nothingLeft(marker, root);

    const records = readRecords(root);
    expect(records).toHaveLength(13);
    for (const record of records) expect(record).toMatchObject({ execenv: "prefect.server", attempt: 1 });
    expect([...new Set(records.map((record) => record.host))].sort()).toEqual(hostNames());
    const a = records.filter((record) => record.exp === "a");
    expect(Math.max(...Object.values(overlapByHost(a)))).toBe(2);
    expect(maxOverlap(a.map(span))).toBe(6);
    expect(records.find((record) => record.exp === "a" && record.run === 11)).toMatchObject({
      exitCode: 1,
      signal: null,
    });
    // The output was written on the host the record names.
    const b = records.find((record) => record.exp === "b") as RunRecord;
    expect(readFileSync(path.join(root, "scratch/b/run0/stdout"), "utf8")).toBe(`out-b-0\n${b.host}\n`);

    writeFileSync(path.join(root, "fixed"), "");
    const resumed = await batch(root, ["--exec-jobs-per-node", "2", "--exec-resume"], { marker });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const all = readRecords(root);
    expect(all).toHaveLength(14);
    expect(all[13]).toMatchObject({ exp: "a", run: 11, exitCode: 0, attempt: 2 });
    await nothingLeft(marker, root);
  }, 900_000);

  it("--total-jobs N: exactly N runs at once over all hosts, measured from the runs' own clocks", async () => {
    // Runs hold their slot until a second host has one: the cap, not one host's N, must bind.
    const root = makeBatch({ a: Array.from({ length: 12 }, () => untilHosts(2, timedSleep(2))) });
    const result = await batch(root, ["--exec-jobs-per-node", "2", "--total-jobs", "3"]);
    expect(result.exitCode, result.stderr).toBe(0);
    const intervals = Array.from({ length: 12 }, (_, i) =>
      intervalOf(path.join(root, "scratch/a", `run${i}`, "stdout")),
    );
    expect(maxOverlap(intervals)).toBe(3);
    expect(new Set(readRecords(root).map((record) => record.host)).size).toBeGreaterThan(1);
  }, 600_000);

  it("--exec-strict: the first failure stops the runs on every host and starts no other", async () => {
    const root = makeBatch({
      a: [
        ...Array.from({ length: 5 }, () => untilEveryHost("sleep 300")),
        untilEveryHost("exit 7"),
        ...Array.from({ length: 6 }, (_, i) => `touch "$SIERRA_BATCH_ROOT/late-${i}"`),
      ],
    });
    const marker = newMarker();
    const result = await batch(root, ["--exec-jobs-per-node", "2", "--exec-strict"], { marker });
    expect(result.exitCode, result.stderr).toBe(1);
    await nothingLeft(marker, root);
    const records = readRecords(root);
    expect(records).toHaveLength(6);
    expect(records.find((record) => record.run === 5)).toMatchObject({ exitCode: 7 });
    for (const record of records.filter((record) => record.run < 5)) expect(record.exitCode).not.toBe(0);
    expect(readdirSync(root).filter((name) => name.startsWith("late-"))).toEqual([]);
  }, 600_000);

  it("SIGINT stops every run on every host and exits 130, leaving only the workers", async () => {
    const stubborn = 'trap "" TERM; sleep 300 & sleep 300; wait';
    const root = makeBatch({ a: Array.from({ length: 8 }, () => untilEveryHost(stubborn)) });
    const marker = newMarker();
    const cli = batch(root, ["--exec-jobs-per-node", "2"], { marker });
    await sleeping(marker, 12, "6 runs on 3 hosts to start");
    cli.kill("SIGINT");
    const result = await cli;
    expect(result.exitCode, result.stderr).toBe(130);
    expect(processesWith(marker)).toEqual([]);
    await nothingLeft(marker, root);
    await waitFor(
      () => cluster.hosts.every((host) => host.pids().every((pid) => pid === workers.get(host.name))),
      "every host to run its worker only",
      60_000,
    );
    const records = readRecords(root);
    expect(records).toHaveLength(6);
    for (const record of records) expect(record.signal).toBe("SIGKILL");
    expect(new Set(records.map((record) => record.host)).size).toBe(3);
    for (const flowRun of await flowRunsOf(executionOf(root))) expect(flowRun.state_type).not.toBe("RUNNING");
  }, 600_000);

  it("a CLI killed with SIGKILL: its watchdog stops the drains, which stop their runs on every host", async () => {
    const root = makeBatch({ a: Array.from({ length: 8 }, () => untilEveryHost("sleep 300")) });
    const marker = newMarker();
    const cli = batch(root, ["--exec-jobs-per-node", "2"], { marker });
    await sleeping(marker, 6, "6 runs on 3 hosts to start");
    cli.kill("SIGKILL");
    await cli;
    await waitFor(() => commandsWith(marker).length === 0, "the runs on every host to be stopped", 60_000);
    await nothingLeft(marker, root);
    // Each drain saw the stop file and ended its flow run (one a worker took late sees it at once).
    const ended = async () =>
      (await flowRunsOf(executionOf(root))).every((flowRun) =>
        ["CANCELLED", "COMPLETED", "FAILED"].includes(flowRun.state_type),
      );
    for (let waited = 0; !(await ended()); waited += 1000) {
      if (waited > 60_000) throw new Error("the drains' flow runs did not end after the stop file");
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }, 600_000);

  it("two batches at once (two users' on one server): both run, and one's SIGINT leaves the other's flow runs alone", async () => {
    const one = makeBatch({ a: Array.from({ length: 8 }, () => "sleep 3") });
    const other = makeBatch({ a: Array.from({ length: 8 }, () => "sleep 300") });
    const otherMarker = newMarker();
    const first = batch(one, ["--exec-jobs-per-node", "2"]);
    const second = batch(other, ["--exec-jobs-per-node", "2"], { marker: otherMarker });
    await waitFor(
      () => commandsWith(otherMarker).filter((command) => command === "sleep 300").length >= 2,
      "the other batch's runs to start",
      300_000,
    );
    second.kill("SIGINT");
    const [done, interrupted] = await Promise.all([first, second]);
    expect(interrupted.exitCode, interrupted.stderr).toBe(130);
    expect(done.exitCode, done.stderr).toBe(0);
    expect(readRecords(one).map((record) => record.exitCode)).toEqual(Array(8).fill(0));
    const mine = await flowRunsOf(executionOf(one));
    expect(mine.length).toBeGreaterThan(0);
    for (const flowRun of mine) expect(flowRun.name.startsWith(executionOf(one))).toBe(true);
    expect(mine.map((flowRun) => flowRun.state_type)).not.toContain("CANCELLED");
    expect(mine.map((flowRun) => flowRun.state_type)).not.toContain("CANCELLING");
    await nothingLeft(otherMarker, other);
  }, 900_000);

  it("refused, missing or leaked credentials: status 2 and one line, the secret never shown or stored", async () => {
    const root = makeBatch({ a: ['env > "$SIERRA_BATCH_ROOT/env"'] });
    const wrong = "sierra:not-the-password-d41d8c";
    for (const verbose of [[], ["--verbose"]]) {
      const refused = await batch(root, verbose, { env: { PREFECT_API_AUTH_STRING: wrong } });
      expect(refused.exitCode).toBe(2);
      expect(refused.stderr).toMatch(
        /^sierra: error: the Prefect server at http:\S+ refused the credentials from PREFECT_API_AUTH_STRING: set PREFECT_API_AUTH_STRING/m,
      );
      if (verbose.length === 0) expect(refused.stderr.trim().split("\n")).toHaveLength(1);
      expect(refused.stderr + refused.stdout).not.toContain("not-the-password");
    }
    const missing = await sierra(["--execenv=prefect.server", "--batch-root", root], {
      env: { PREFECT_API_URL: undefined },
    });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr.trim()).toMatch(
      /^sierra: error: no Prefect server given: pass --prefect-api-url URL/,
    );

    // A batch that runs: the secret is in no output, file of the batch root, or flow-run parameter.
    const ok = await batch(root, ["--verbose"]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const secret = cluster.authString.split(":")[1] as string;
    expect(ok.stderr + ok.stdout).not.toContain(secret);
    const files = readdirSync(root, { recursive: true, withFileTypes: true }).filter((entry) =>
      entry.isFile(),
    );
    for (const file of files) {
      expect(readFileSync(path.join(file.parentPath, file.name), "utf8"), file.name).not.toContain(secret);
    }
    // The run got the caller's environment, without the credentials (neither the caller's nor the worker's).
    const env = readFileSync(path.join(root, "env"), "utf8");
    expect(env).not.toMatch(/^PREFECT_API_AUTH_STRING=/m);
    const runs = await flowRunsOf(executionOf(root));
    expect(JSON.stringify(runs)).not.toContain(secret);
    expect(existsSync(path.join(root, "scratch/.prefect-server", executionOf(root), "caller-env.json"))).toBe(
      false,
    );
  }, 600_000);

  /**
   * 9 runs of 6 s at 2 per host with a short --drain-timeout; `kill` strikes `victim` once it
   * runs 2 of them (6 on 3 hosts). Every run ends with exit 0, none on the victim: its 2 ran
   * again on the others, and theirs were left alone.
   */
  async function hostLost(victim: PrefectTestCluster["hosts"][number], kill: () => void) {
    const root = makeBatch({ a: Array.from({ length: 9 }, () => untilEveryHost("sleep 6")) });
    const marker = newMarker();
    const cli = batch(root, ["--exec-jobs-per-node", "2", "--drain-timeout", "6"], { marker });
    await waitFor(
      () => existsSync(path.join(root, `host-${victim.name}`)),
      "a run on the victim host",
      300_000,
    );
    await waitFor(
      () => commandsWith(marker).filter((command) => command === "sleep 6").length >= 6,
      "6 runs on 3 hosts",
      60_000,
    );
    kill();
    const result = await cli;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`on host ${victim.name} .*declared dead`));
    const records = readRecords(root);
    expect(records.map((record) => record.run).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (const record of records) expect(record).toMatchObject({ exitCode: 0, signal: null });
    expect(records.filter((record) => record.host === victim.name)).toEqual([]);
    expect(commandsWith(marker)).toEqual([]);
  }

  it("kill -9 of a host's worker and drain: the drain's watchdog stops that host's runs only, they run again elsewhere", async () => {
    const victim = cluster.hosts[2] as PrefectTestCluster["hosts"][number];
    await hostLost(victim, () => {
      const engines = victim
        .pids()
        .filter((pid) => /prefect\.engine|_workspace_supervisor/.test(commandLine(pid)));
      expect(engines.length).toBeGreaterThan(0);
      for (const pid of [workers.get(victim.name) as number, ...engines]) process.kill(pid, "SIGKILL");
    });
    // Nothing of the batch is left on the victim: its runs and the drain's watchdog are gone.
    await waitFor(() => victim.pids().length === 0, "the victim host to be empty", 60_000);
    workers.set(victim.name, (await cluster.startWorker(victim, { pool: POOL })).pid);
  }, 600_000);

  // Last: the dead host's worker stays registered as online for a while.
  it("a worker host that dies mid-batch: its runs run again on the others, each recorded once with its end", async () => {
    const victim = cluster.hosts[1] as PrefectTestCluster["hosts"][number];
    await hostLost(victim, () => victim.kill());
  }, 600_000);
});
