// The backend-facing part against the real Prefect 1.4.1 agent and flow runner (provisioned
// by the project like in use): batches run through the core, against an embedded backend
// the test owns, so that the states the backend saw can be read afterwards.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type BatchResult,
  coreOptionsSchema,
  executeBatch,
  parseOptions,
  planBatch,
  spawnGroup,
  stopProcessGroup,
} from "@sierra-exec/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Backend, startBackend } from "../src/backend/index.js";
import prefect1 from "../src/index.js";
import { prefect1OptionsSchema } from "../src/options.js";
import { batchDirs, prefectEnv } from "../src/prefect-env.js";
import { findPrefect1 } from "../src/prefect-install.js";

const quiet = { info: () => {}, warn: () => {}, debug: () => {} };

function makeBatch(experiments: Record<string, string[]>): string {
  const root = mkdtempSync(path.join(tmpdir(), "sierra-p1-"));
  for (const [name, commands] of Object.entries(experiments)) {
    mkdirSync(path.join(root, "exp-inputs", name), { recursive: true });
    writeFileSync(path.join(root, "exp-inputs", name, "commands.txt"), `${commands.join("\n")}\n`);
  }
  return root;
}

async function runBatch(
  root: string,
  core: Record<string, unknown>,
  options: Record<string, unknown>,
): Promise<BatchResult> {
  const coreOptions = parseOptions(
    coreOptionsSchema,
    { batchRoot: root, execenv: prefect1.name, ...core },
    {},
  );
  return executeBatch({
    plan: planBatch(coreOptions),
    execenv: prefect1,
    options: parseOptions(prefect1OptionsSchema, options, {}),
    core: coreOptions,
    log: quiet,
    handleSignals: false,
  });
}

/** Pids of live processes whose environment has `entry` (NAME=value) and whose command line has `command`. */
function processesWith(entry: string, command: string): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return (
          readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(entry) &&
          readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(command)
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}

let backend: Backend;
beforeEach(async () => {
  backend = await startBackend();
});
afterEach(() => backend.close());

const flowRunStates = (flowRunId: string) =>
  backend.store.flowRunStates.get(flowRunId)?.map((row) => row.state);
const taskRunStates = () =>
  new Map(
    backend.store.taskRuns.map((taskRun) => [
      backend.store.tasks.find((task) => task.id === taskRun.task_id)?.name,
      backend.store.taskRunStates.get(taskRun.id)?.map((row) => row.state),
    ]),
  );

describe("with the real Prefect 1.4.1 agent and flow runner", () => {
  it("a flow run goes Scheduled, Submitted, Running, Success; each task run Pending, Running, Success", async () => {
    const root = makeBatch({ e: ["true", "sleep 0.2", "echo hi"] });
    const result = await runBatch(root, { execJobsPerNode: 2 }, { prefect1Api: backend.url });
    expect(result.exitCode).toBe(0);
    const [flowRun] = backend.store.flowRuns;
    expect(flowRunStates(flowRun?.id as string)).toEqual(["Scheduled", "Submitted", "Running", "Success"]);
    expect(flowRun?.version).toBe(4);
    expect(flowRun?.labels).toEqual([expect.stringMatching(/^sierra-sierra-/)]);
    expect(Object.fromEntries(taskRunStates())).toEqual({
      "e/run0": ["Pending", "Running", "Success"],
      "e/run1": ["Pending", "Running", "Success"],
      "e/run2": ["Pending", "Running", "Success"],
    });
  });

  it("a failing run fails its task and the flow run; the others still run", async () => {
    const root = makeBatch({ e: ["exit 3", "true"] });
    const result = await runBatch(root, { execJobsPerNode: 1 }, { prefect1Api: backend.url });
    expect(result.exitCode).toBe(1);
    expect(result.failed.map((record) => [record.run, record.exitCode])).toEqual([[0, 3]]);
    const [flowRun] = backend.store.flowRuns;
    expect(flowRunStates(flowRun?.id as string)).toEqual(["Scheduled", "Submitted", "Running", "Failed"]);
    expect(flowRun?.state_message).toBe("Some reference tasks failed.");
    expect(Object.fromEntries(taskRunStates())).toEqual({
      "e/run0": ["Pending", "Running", "Failed"],
      "e/run1": ["Pending", "Running", "Success"],
    });
  });

  it("per-exp: one flow run per experiment, one after another", async () => {
    const root = makeBatch({ a: ["true"], b: ["true", "true"] });
    const result = await runBatch(root, { execParallelismParadigm: "per-exp" }, { prefect1Api: backend.url });
    expect(result.exitCode).toBe(0);
    const runs = backend.store.flowRuns;
    expect(runs.map((run) => [run.name, run.state])).toEqual([
      [expect.stringMatching(/^a /), "Success"],
      [expect.stringMatching(/^b /), "Success"],
    ]);
    expect(Date.parse(runs[1]?.start_time as string)).toBeGreaterThanOrEqual(
      Date.parse(runs[0]?.end_time as string),
    );
  });

  it("--agent-running: a local agent that already runs, serving the given label, executes the batch", async () => {
    const python = await findPrefect1(
      { python: "python3" },
      { log: quiet, signal: new AbortController().signal },
    );
    const root = makeBatch({ e: ["echo from-running-agent"] });
    const dirs = batchDirs(root, "own-agent");
    mkdirSync(dirs.home, { recursive: true });
    mkdirSync(dirs.tmp, { recursive: true });
    const { child: agent } = await spawnGroup(
      python,
      ["-m", "prefect", "agent", "local", "start", "--no-hostname-label", "--label", "lab-agent"],
      { env: prefectEnv(process.env, dirs, backend.url, "own-agent"), extendEnv: false, stdio: "ignore" },
    );
    try {
      const result = await runBatch(
        root,
        {},
        { prefect1Api: backend.url, agentRunning: true, labels: "lab-agent" },
      );
      expect(result.exitCode).toBe(0);
      expect(backend.store.flowRuns[0]?.labels).toEqual(["lab-agent"]);
    } finally {
      await stopProcessGroup(agent.pid as number, { signal: "SIGINT", graceMs: 5000 });
    }
  });

  it("a flow-run process that dies is noticed by its missing heartbeats: its runs are stopped and recorded", async () => {
    const root = makeBatch({
      e: Array(3).fill('touch "$SIERRA_BATCH_ROOT/started-$SIERRA_RUN"; exec sleep 301'),
    });
    const batch = runBatch(root, { execJobsPerNode: 2 }, { prefect1Api: backend.url, killGrace: 0.5 });
    const deadline = Date.now() + 120_000;
    while (!(existsSync(path.join(root, "started-0")) && existsSync(path.join(root, "started-1")))) {
      if (Date.now() > deadline) throw new Error("the runs did not start");
      await sleep(100);
    }
    const flowRunId = backend.store.flowRuns[0]?.id as string;
    const runner = processesWith(`PREFECT__CONTEXT__FLOW_RUN_ID=${flowRunId}`, "execute\0flow-run");
    expect(runner).toHaveLength(1);
    process.kill(runner[0] as number, "SIGKILL");
    const result = await batch;
    expect(result.exitCode).toBe(1);
    expect(result.failed.map((record) => [record.run, record.error]).sort()).toEqual([
      [0, "stopped; its end never reached the backend"],
      [1, "stopped; its end never reached the backend"],
    ]);
    expect(result.notRun).toBe(1);
    expect(processesWith(`SIERRA_BATCH_ROOT=${root}`, "sleep")).toEqual([]);
  });
});
