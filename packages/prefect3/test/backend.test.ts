// The backend-facing part against a real Prefect server (provisioned as users get it):
// start-up and readiness with the flow engine booting beside the server, the block types the
// template database brings, the REST set-up, a drain flow run handed to that engine and run
// once with no worker, an engine stopped mid-flow-run, and a clean stop.
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type HelperProcess, EXECUTION_MARKER as MARKER, markedProcesses } from "@sierra-exec/core";
import { describe, expect, it } from "vitest";
import { connect, type FlowRun, must, type PrefectClient } from "../src/api.js";
import { drainParameters } from "../src/drains.js";
import { Engines } from "../src/engine.js";
import { findPrefect, templateDatabase } from "../src/prefect-install.js";
import { PrefectServer } from "../src/server.js";
import { setUpDeployment } from "../src/setup-api.js";
import { isTerminal } from "../src/states.js";
import { WorkDir } from "../src/work-dir.js";

const log = { info: () => {}, warn: () => {}, debug: () => {} };

/** A test server's settings on a fresh directory, and its engines; what they start is pushed onto `started`. */
async function serverSettings(started: HelperProcess[]) {
  const signal = new AbortController().signal;
  const install = await findPrefect(undefined, { log, signal });
  const dir = mkdtempSync(path.join(tmpdir(), "prefect-backend-"));
  const settings = {
    python: install.python,
    dir,
    templateDatabase: await templateDatabase(install, { log }),
    executionId: `test-${process.pid}-${Date.now()}`,
    startTimeout: 180,
    signal,
    onStarted: (process: HelperProcess) => started.push(process),
  };
  const engines = new Engines({
    python: install.python,
    dir,
    killGrace: 5, // engines get 10 s between TERM and KILL
    onStarted: (engine) => started.push(engine),
    log,
  });
  return { install, dir, engines, settings };
}

/** A drain flow run of the deployment, on the work directory `work`. */
async function drainFlowRun(client: PrefectClient, deploymentId: string, work: string, executionId: string) {
  const parameters = drainParameters({
    workDir: work,
    executionId,
    jobs: 1,
    totalJobs: 0,
    killGrace: 1,
    strict: false,
  });
  return must(
    await client.POST("/deployments/{id}/create_flow_run", {
      params: { path: { id: deploymentId } },
      body: { parameters },
    }),
    "create flow run",
  ).id;
}

/** The flow run once `done(flowRun)`. */
async function flowRunUntil(
  client: PrefectClient,
  id: string,
  done: (run: FlowRun) => boolean,
): Promise<FlowRun> {
  for (let i = 0; ; i++) {
    const run = must(await client.GET("/flow_runs/{id}", { params: { path: { id } } }), "read flow run");
    if (done(run) || i >= 1200) return run;
    await sleep(100);
  }
}

describe("a batch's Prefect server", () => {
  it.each([
    ["", undefined],
    [" that requires basic auth", "sierra:backend-test"],
  ])(
    "a server%s gets ready with an engine booting beside it, is set up over the API, and that engine runs the drain flow run handed to it, once, with no worker",
    async (_, authString) => {
      const started: HelperProcess[] = [];
      const { dir, engines, settings: base } = await serverSettings(started);
      const { executionId } = base;
      try {
        let besideAt: number | undefined;
        const server = await PrefectServer.start({
          ...base,
          ...(authString ? { authString } : {}),
          alongside: async (on) => {
            await engines.warmUp(on);
            besideAt = Date.now();
          },
        });
        const readyAt = Date.now();
        expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        // It started before the server was ready, and waits for its flow run instead of failing.
        if (!besideAt) throw new Error("no engine was started beside the server");
        expect(besideAt).toBeLessThan(readyAt);
        await sleep(500);
        const [engine] = started.slice(1);
        expect(engine?.running).toBe(true);
        const authorization: Record<string, string> = authString
          ? { authorization: `Basic ${Buffer.from(authString).toString("base64")}` }
          : {};
        // The server skipped registering block types: the template database has them.
        const blockTypes = await fetch(`${server.apiUrl}/block_types/filter`, {
          method: "POST",
          headers: { "content-type": "application/json", ...authorization },
          body: "{}",
        });
        expect(((await blockTypes.json()) as { slug: string }[]).map((type) => type.slug)).toContain(
          "secret",
        );
        const client = connect(server.apiUrl);
        if (authString)
          client.use({
            onRequest: ({ request }) => {
              request.headers.set("authorization", authorization.authorization ?? "");
              return request;
            },
          });
        const { id } = await setUpDeployment(client, { pool: "p1", queue: "q1" });
        const deployment = must(
          await client.GET("/deployments/name/{flow_name}/{deployment_name}", {
            params: { path: { flow_name: "sierra", deployment_name: "local" } },
          }),
          "read deployment",
        );
        expect(deployment).toMatchObject({ id, work_pool_name: "p1", work_queue_name: "q1" });
        // No set will come: the drain says hello and returns Completed at once.
        const work = new WorkDir(path.join(dir, "work"));
        work.writeDone();
        const flowRun = await drainFlowRun(client, id, work.dir, executionId);
        await engines.run(flowRun, client);
        const ended = await flowRunUntil(client, flowRun, (run) => isTerminal(run.state_type));
        expect(ended).toMatchObject({ state_type: "COMPLETED", run_count: 1 });
        await engine?.exited;
        expect(engine).toMatchObject({ exitCode: 0 });
        expect(readdirSync(work.events)).toHaveLength(1);
        // Nobody polls the pool: no worker ever came.
        const workers = must(
          await client.POST("/work_pools/{work_pool_name}/workers/filter", {
            params: { path: { work_pool_name: "p1" } },
            body: {},
          }),
          "workers",
        );
        expect(workers).toEqual([]);
        expect(markedProcesses(MARKER, executionId)).toEqual([server.process.pid]);
      } finally {
        for (const process of started.reverse()) await process.stop();
      }
      expect(markedProcesses(MARKER, executionId)).toEqual([]);
    },
  );

  it("an engine stopped mid-flow-run (TERM) leaves its flow run in a final state; a flow run after it gets an engine of its own", async () => {
    const started: HelperProcess[] = [];
    const { dir, engines, settings: base } = await serverSettings(started);
    const { executionId } = base;
    try {
      const server = await PrefectServer.start({ ...base, alongside: (on) => engines.warmUp(on) });
      const client = connect(server.apiUrl);
      const { id } = await setUpDeployment(client, { pool: "p1", queue: "q1" });
      const work = new WorkDir(path.join(dir, "work"));
      const first = await drainFlowRun(client, id, work.dir, executionId);
      await engines.run(first, client);
      // No `done`: the drain serves until it is stopped.
      expect((await flowRunUntil(client, first, (run) => run.state_type === "RUNNING")).state_type).toBe(
        "RUNNING",
      );
      expect(await engines.stop(first)).toBe(true);
      const [, engine] = started;
      expect(engine?.running).toBe(false);
      expect(
        isTerminal((await flowRunUntil(client, first, (run) => isTerminal(run.state_type))).state_type),
      ).toBe(true);
      // The next flow run finds no engine waiting: one is started for it.
      work.writeDone();
      const second = await drainFlowRun(client, id, work.dir, executionId);
      await engines.run(second, client);
      expect(await flowRunUntil(client, second, (run) => isTerminal(run.state_type))).toMatchObject({
        state_type: "COMPLETED",
        run_count: 1,
      });
      expect(started).toHaveLength(3);
      await engines.stopAll();
      expect(markedProcesses(MARKER, executionId)).toEqual([server.process.pid]);
    } finally {
      for (const process of started.reverse()) await process.stop();
    }
    expect(markedProcesses(MARKER, executionId)).toEqual([]);
  });
});
