// The backend-facing part against a real Prefect server (provisioned as users get it):
// start-up and readiness, the REST set-up, the worker coming online, and a clean stop.
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

describe("a batch's Prefect server", () => {
  it("gets ready, is set up over the API, serves a worker, and stops leaving nothing", async () => {
    const signal = new AbortController().signal;
    const install = await findPrefect(undefined, { log, signal });
    const dir = mkdtempSync(path.join(tmpdir(), "prefect-backend-"));
    const executionId = `test-${process.pid}-${Date.now()}`;
    const started: HelperProcess[] = [];
    try {
      const server = await PrefectServer.start({
        python: install.python,
        dir,
        templateDatabase: await templateDatabase(install, { log }),
        executionId,
        startTimeout: 180,
        signal,
        onStarted: (process) => started.push(process),
      });
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const client = connect(server.apiUrl);
      const settings = { pool: "p1", queue: "q1", python: install.python };
      const { id } = await setUpDeployment(client, settings);
      const deployment = must(
        await client.GET("/deployments/name/{flow_name}/{deployment_name}", {
          params: { path: { flow_name: "sierra", deployment_name: "local" } },
        }),
        "read deployment",
      );
      expect(deployment).toMatchObject({ id, work_pool_name: "p1", work_queue_name: "q1" });
      const worker = await startWorker(server, { ...settings, dir });
      started.push(worker);
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
});
