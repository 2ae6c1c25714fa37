// The slurm execenv through the built CLI on a real Slurm cluster of 3 nodes (2 CPUs each),
// started for this file: from outside an allocation (the CLI submits job arrays) and from
// inside one (salloc; the runs are job steps). Hosts, the exact cap from the runs' own
// clocks, failures, strict, resume, SIGINT, kill -9, and a bad environment.
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { RunRecord } from "@sierra-exec/core";
import { startTestCluster, type TestCluster } from "@sierra-exec/execenv-slurm/test-cluster";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  intervalOf,
  makeBatch,
  maxOverlap,
  newMarker,
  processesWith,
  readRecords,
  SIERRA,
  sierra,
  timedSleep,
  waitFor,
} from "./helpers.js";

const SLURM = "--execenv=slurm";
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster({ nodes: 3, cpus: 2 });
  process.env.SLURM_CONF = cluster.env.SLURM_CONF;
  delete process.env.SLURM_JOB_ID;
});
afterAll(() => cluster?.stop());

/** Jobs (or, with `steps`, the steps of allocation `steps`) still in the cluster's queue. */
async function queued(steps?: string): Promise<string[]> {
  const args = steps ? ["-h", "-s", "-j", steps, "-o", "%i"] : ["-h", "-o", "%i"];
  const { stdout } = await execa("squeue", args);
  return stdout.split("\n").filter(Boolean);
}

/** Polls an async probe every 100 ms until it holds; rejects after `ms`. */
async function until(probe: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Nothing of the batch in the queue: at once in jobs mode (the CLI waits for its jobs to
 * leave it), within seconds in steps mode, where salloc's allocation completes after the CLI.
 */
async function settled(mode: "jobs" | "steps") {
  if (mode === "jobs") expect(await queued()).toEqual([]);
  else await until(async () => (await queued()).length === 0, "salloc's allocation to complete");
}

/** Run intervals from their stdout (timedSleep), all and per host. */
function spans(root: string, records: RunRecord[]) {
  const all = records.map((record) => ({
    host: record.host,
    interval: intervalOf(path.join(root, "scratch", record.exp, `run${record.run}`, "stdout")),
  }));
  const byHost = new Map<string, Array<[number, number]>>();
  for (const { host, interval } of all) byHost.set(host, [...(byHost.get(host) ?? []), interval]);
  return { overall: maxOverlap(all.map(({ interval }) => interval)), byHost };
}

/** An allocation of the whole cluster held by no shell: inside it, as a batch script would be. */
async function allocation(): Promise<{ id: string; env: NodeJS.ProcessEnv }> {
  const granted = await execa("salloc", ["--no-shell", "--nodes=3", "--exclusive"]);
  const id = /Granted job allocation (\d+)/.exec(granted.stderr)?.[1] as string;
  const { stdout } = await execa("squeue", ["-h", "-j", id, "-o", "%N"]);
  return { id, env: { SLURM_JOB_ID: id, SLURM_JOB_NODELIST: stdout.trim() } };
}

const stateFiles = (root: string, suffix: string) => {
  const dir = path.join(root, "scratch/.slurm");
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).flatMap((execution) =>
    readdirSync(path.join(dir, execution)).filter((name) => name.endsWith(suffix)),
  ).length;
};

describe.each([
  ["outside an allocation (job arrays)", "jobs"],
  ["inside an allocation (job steps, salloc)", "steps"],
] as const)("slurm %s", (_, mode) => {
  /** The CLI as a cluster user types it in this mode. */
  const run = (args: string[], marker: string) =>
    mode === "jobs"
      ? sierra([SLURM, ...args], { marker, timeout: 120_000 })
      : execa("salloc", ["--nodes=3", "--exclusive", process.execPath, SIERRA, SLURM, ...args], {
          reject: false,
          timeout: 120_000,
          env: { SIERRA_TEST_MARKER: marker, CI: "1" },
        });

  it("spreads runs over the 3 nodes, at most 2 per node, 6 at once; a failure exits 1; resume re-runs only it", async () => {
    const root = makeBatch({
      a: Array.from({ length: 12 }, () => timedSleep(1)),
      b: ['test -f "$SIERRA_BATCH_ROOT/fixed"', 'echo "$SLURMD_NODENAME"'],
    });
    const marker = newMarker();
    const first = await run(["--batch-root", root, "--exec-jobs-per-node", "2"], marker);
    expect(first.exitCode, first.stderr).toBe(1);
    expect(processesWith(marker)).toEqual([]);
    await settled(mode);

    const records = readRecords(root);
    expect(records).toHaveLength(14);
    for (const record of records) expect(record).toMatchObject({ execenv: "slurm", attempt: 1 });
    expect(new Set(records.map((record) => record.host))).toEqual(new Set(cluster.nodes));
    const { overall, byHost } = spans(
      root,
      records.filter((record) => record.exp === "a"),
    );
    expect(overall).toBe(6);
    for (const intervals of byHost.values()) expect(maxOverlap(intervals)).toBeLessThanOrEqual(2);
    // The node a run reports is the node its record names.
    const echo = records.find((record) => record.exp === "b" && record.run === 1);
    expect(readFileSync(path.join(root, "scratch/b/run1/stdout"), "utf8").trim()).toBe(echo?.host);
    expect(records.find((record) => record.exp === "b" && record.run === 0)).toMatchObject({
      exitCode: 1,
      signal: null,
    });

    writeFileSync(path.join(root, "fixed"), "");
    const resumed = await run(["--batch-root", root, "--exec-jobs-per-node", "2", "--exec-resume"], marker);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const after = readRecords(root);
    expect(after).toHaveLength(15);
    expect(after.at(-1)).toMatchObject({ exp: "b", run: 0, exitCode: 0, attempt: 2 });
    expect(processesWith(marker)).toEqual([]);
  }, 240_000);

  it("--exec-strict: the first failure starts no new run and stops the running ones", async () => {
    // Six slots: run 0 fails once runs 1-5 surely run; runs 6-9 must never start.
    const waitAll = [1, 2, 3, 4, 5].map((i) => `[ -f "$SIERRA_BATCH_ROOT/started-${i}" ]`).join(" && ");
    const root = makeBatch({
      a: [
        `until ${waitAll}; do sleep 0.05; done; exit 7`,
        ...Array.from({ length: 5 }, () => 'touch "$SIERRA_BATCH_ROOT/started-$SIERRA_RUN"; sleep 300'),
        ...Array.from({ length: 4 }, () => 'touch "$SIERRA_BATCH_ROOT/started-$SIERRA_RUN"'),
      ],
    });
    const marker = newMarker();
    const result = await run(["--batch-root", root, "--exec-jobs-per-node", "2", "--exec-strict"], marker);
    expect(result.exitCode, result.stderr).toBe(1);
    const records = readRecords(root).sort((x, y) => x.run - y.run);
    expect(records.map((record) => record.run)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(records[0]).toMatchObject({ exitCode: 7 });
    for (const record of records.slice(1)) expect(record.exitCode).not.toBe(0);
    expect(readdirSync(root).filter((name) => /^started-[6-9]$/.test(name))).toEqual([]);
    expect(processesWith(marker)).toEqual([]);
    await settled(mode);
  }, 120_000);
});

describe("slurm from an sbatch script, as SIERRA users run hpc.slurm", () => {
  it("the runs are steps of the script's job, spread over its 3 nodes", async () => {
    const root = makeBatch({ a: Array.from({ length: 6 }, () => 'echo "$SLURM_JOB_ID"') });
    const marker = newMarker();
    const script = `${process.execPath} ${SIERRA} ${SLURM} --batch-root ${root} --exec-jobs-per-node 2; echo $? > ${root}/status`;
    const submitted = await execa(
      "sbatch",
      ["--parsable", "--nodes=3", "--exclusive", `--output=${root}/job.out`, `--wrap=${script}`],
      { env: { SIERRA_TEST_MARKER: marker } },
    );
    const job = submitted.stdout.trim();
    await until(
      async () => existsSync(path.join(root, "status")) && (await queued()).length === 0,
      "the job",
    );
    expect(
      readFileSync(path.join(root, "status"), "utf8").trim(),
      readFileSync(`${root}/job.out`, "utf8"),
    ).toBe("0");
    const records = readRecords(root);
    expect(new Set(records.map((record) => record.host))).toEqual(new Set(cluster.nodes));
    for (const record of records) {
      expect(readFileSync(path.join(root, "scratch/a", `run${record.run}`, "stdout"), "utf8").trim()).toBe(
        job,
      );
    }
    expect(processesWith(marker)).toEqual([]);
  }, 120_000);
});

describe("slurm: stopping", () => {
  const STUBBORN = 'trap "" TERM; sleep 300 & sleep 300; wait';

  /** A batch of runs that ignore TERM, 6 of them running (2 per node) when this resolves. */
  async function stubbornBatch(mode: "jobs" | "steps", count: number) {
    const root = makeBatch({ a: Array.from({ length: count }, () => STUBBORN) });
    const marker = newMarker();
    const inside = mode === "steps" ? await allocation() : undefined;
    const cli = sierra([SLURM, "--batch-root", root, "--exec-jobs-per-node", "2", "--kill-grace", "0.5"], {
      marker,
      env: inside?.env ?? {},
    });
    await waitFor(() => stateFiles(root, ".start") >= 6, "six runs to start", 60_000);
    return { root, marker, inside, cli };
  }

  it.each(["jobs", "steps"] as const)(
    "SIGINT mid-batch (%s) ends with 130, no job or step in squeue, no run process",
    async (mode) => {
      const { root, marker, inside, cli } = await stubbornBatch(mode, 10);
      cli.kill("SIGINT");
      const result = await cli;
      expect(result.exitCode, result.stderr).toBe(130);
      expect(processesWith(marker)).toEqual([]);
      expect(await queued(inside?.id)).toEqual([]);
      if (inside) {
        expect(await queued()).toEqual([inside.id]); // the user's allocation itself stays
        await execa("scancel", [inside.id]);
      }
      const records = readRecords(root);
      expect(records).toHaveLength(6);
      for (const record of records) expect(record.exitCode).not.toBe(0);
    },
    120_000,
  );

  it.each(["jobs", "steps"] as const)(
    "kill -9 of the CLI (%s): its jobs or steps are cancelled and no run is left",
    async (mode) => {
      const { root, marker, inside, cli } = await stubbornBatch(mode, 8);
      cli.kill("SIGKILL");
      await cli;
      await waitFor(() => processesWith(marker).length === 0, "the runs to be stopped", 30_000);
      await until(async () => (await queued(inside?.id)).length === 0, "the queue to empty");
      if (inside) await execa("scancel", [inside.id]);
      expect(stateFiles(root, ".start")).toBe(6);
    },
    120_000,
  );
});

describe("slurm: a bad environment exits 2 with one line, before anything is submitted", () => {
  const expectRefused = async (args: string[], env: NodeJS.ProcessEnv, message: RegExp) => {
    const root = makeBatch({ a: ["true"] });
    const result = await sierra([SLURM, "--batch-root", root, ...args], { env });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(existsSync(path.join(root, "scratch"))).toBe(false);
    expect(await queued()).toEqual([]);
  };

  it("no Slurm client on PATH", async () => {
    await expectRefused(
      [],
      { PATH: "/nonexistent" },
      /needs scontrol, which is not on PATH: put Slurm's client/,
    );
  });

  it("an unreachable controller", async () => {
    const conf = path.join(cluster.dir, "unreachable.conf");
    copyFileSync(cluster.env.SLURM_CONF, conf);
    const text = readFileSync(conf, "utf8").replace(/^SlurmctldPort=\d+$/m, "SlurmctldPort=9");
    writeFileSync(conf, text);
    await expectRefused([], { SLURM_CONF: conf }, /Slurm controller .*check that slurmctld runs/);
  }, 120_000);

  it("an unknown partition, and options sbatch refuses", async () => {
    await expectRefused(
      ["--partition", "gpu"],
      {},
      /unknown Slurm partition "gpu": pass one of debug to --partition/,
    );
    await expectRefused(
      ["--sbatch-args=--constraint=no-such-feature"],
      {},
      /Slurm refuses the runs' jobs \(sbatch --test-only: .*\): fix --partition/,
    );
  });
});
