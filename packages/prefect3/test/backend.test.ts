// The backend-facing part against a real Prefect server (provisioned as users get it):
// start-up and readiness with a worker booting beside the server, the block types the
// template database brings, the REST set-up, the worker coming online, and a clean stop.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type HelperProcess, EXECUTION_MARKER as MARKER, markedProcesses } from "@sierra-exec/core";
import { describe, expect, it } from "vitest";
import { connect, must } from "../src/api.js";
import { findPrefect, templateDatabase } from "../src/prefect-install.js";
import { PrefectServer } from "../src/server.js";
import { setUpDeployment } from "../src/setup-api.js";
import { startWorker } from "../src/worker.js";

const log = { info: () => {}, warn: () => {}, debug: () => {} };

/** A test server's settings on a fresh directory; what it starts is pushed onto `started`. */
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
  return { install, dir, settings };
}

describe("a batch's Prefect server", () => {
  it("gets ready, is set up over the API, serves a worker, and stops leaving nothing", async () => {
    const started: HelperProcess[] = [];
    const { install, dir, settings: base } = await serverSettings(started);
    const { executionId } = base;
    try {
      const beside: { worker?: HelperProcess; at?: number } = {};
      const settings = { pool: "p1", queue: "q1", python: install.python };
      const server = await PrefectServer.start({
        ...base,
        alongside: async (on) => {
          beside.worker = await startWorker(on, { ...settings, dir });
          beside.at = Date.now();
          started.push(beside.worker);
        },
      });
      const readyAt = Date.now();
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const { worker, at } = beside;
      if (!worker || !at) throw new Error("the worker was not started beside the server");
      // It started before the server was ready, and waits for its queue instead of failing.
      expect(at).toBeLessThan(readyAt);
      await sleep(500);
      expect(worker.running).toBe(true);
      // The server skipped registering block types: the template database has them.
      const blockTypes = await fetch(`${server.apiUrl}/block_types/filter`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(((await blockTypes.json()) as { slug: string }[]).map((type) => type.slug)).toContain("secret");
      const client = connect(server.apiUrl);
      const { id } = await setUpDeployment(client, settings);
      const deployment = must(
        await client.GET("/deployments/name/{flow_name}/{deployment_name}", {
          params: { path: { flow_name: "sierra", deployment_name: "local" } },
        }),
        "read deployment",
      );
      expect(deployment).toMatchObject({ id, work_pool_name: "p1", work_queue_name: "q1" });
      let status: string | undefined;
      for (let i = 0; i < 600 && status !== "ONLINE"; i++) {
        const workers = must(
          await client.POST("/work_pools/{work_pool_name}/workers/filter", {
            params: { path: { work_pool_name: "p1" } },
            body: {},
          }),
          "workers",
        );
        status = workers[0]?.status;
        await sleep(200);
      }
      expect(status).toBe("ONLINE");
      expect(markedProcesses(MARKER, executionId).sort()).toEqual([server.process.pid, worker.pid].sort());
    } finally {
      for (const process of started.reverse()) await process.stop();
    }
    expect(markedProcesses(MARKER, executionId)).toEqual([]);
  });

  it("a worker started beside a server that requires basic auth waits for its queue with the credentials", async () => {
    const authString = "sierra:backend-test";
    const started: HelperProcess[] = [];
    const { install, dir, settings: base } = await serverSettings(started);
    const { executionId } = base;
    try {
      const server = await PrefectServer.start({
        ...base,
        authString,
        alongside: async (on) => {
          started.push(await startWorker(on, { pool: "p1", queue: "q1", python: install.python, dir }));
        },
      });
      const call = (route: string, body: unknown) =>
        fetch(`${server.apiUrl}${route}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            authorization: `Basic ${Buffer.from(authString).toString("base64")}`,
          },
          body: JSON.stringify(body),
        });
      expect((await call("/work_pools/", { name: "p1", type: "process" })).status).toBe(201);
      expect((await call("/work_pools/p1/queues", { name: "q1" })).status).toBe(201);
      let status: string | undefined;
      for (let i = 0; i < 600 && status !== "ONLINE"; i++) {
        status = ((await (await call("/work_pools/p1/workers/filter", {})).json()) as { status: string }[])[0]
          ?.status;
        await sleep(200);
      }
      expect(status).toBe("ONLINE");
    } finally {
      for (const process of started.reverse()) await process.stop();
    }
    expect(markedProcesses(MARKER, executionId)).toEqual([]);
  });
});
