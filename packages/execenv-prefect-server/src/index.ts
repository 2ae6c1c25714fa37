// The `prefect.server` execenv: runs a batch on an existing, shared Prefect 3 server (or Prefect
// Cloud) whose process workers on many hosts share the batch root. It starts no server and no
// worker: it creates a deployment of its own, and drains (flow runs of @sierra-exec/prefect3's
// flow) that the pool's workers take, at most --exec-jobs-per-node runs at once on each host.
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CORE_PYTHON_DIR, defineExecEnv, type ExecEnv, guardBatch, SierraError } from "@sierra-exec/core";
import { Drains, deploymentPayload, FLOW_DIR, FLOW_NAME, must } from "@sierra-exec/prefect3";
import { credentialsOf } from "./credentials.js";
import { callerEnvFileContent, deploymentName, engineEnv, jobVariables, uiUrlOf } from "./decisions.js";
import { prefectServerOptionsSchema } from "./options.js";
import { SharedServer } from "./shared-server.js";
import { Spreading } from "./spreading.js";

export { credentialsOf } from "./credentials.js";
export {
  callerEnvFileContent,
  deploymentName,
  drainsToCreate,
  engineEnv,
  jobVariables,
  serverVersionVerdict,
} from "./decisions.js";
export { type PrefectServerOptions, prefectServerOptionsSchema } from "./options.js";

export interface PrefectServerState {
  /** The drains of the batch, on the workers of its pool. */
  drains: Drains;
}

/** The shared server's URL, or one line on how to give it. */
function apiUrlOf(option: string | undefined): string {
  if (option) return option;
  throw new SierraError(
    "no Prefect server given: pass --prefect-api-url URL (e.g. http://prefect.lab:4200/api) or set PREFECT_API_URL",
  );
}

/** The flow's Python files and core's, copied where every worker host sees them. */
function copyFlow(flowDir: string): void {
  mkdirSync(flowDir, { recursive: true });
  for (const from of [FLOW_DIR, CORE_PYTHON_DIR]) {
    for (const file of readdirSync(from).filter((name) => name.endsWith(".py"))) {
      copyFileSync(path.join(from, file), path.join(flowDir, file));
    }
  }
}

const prefectServer: ExecEnv<typeof prefectServerOptionsSchema, PrefectServerState, SharedServer> =
  defineExecEnv({
    name: "prefect.server",
    description:
      "Runs on a shared Prefect 3 server (or Prefect Cloud), spread over the process workers of a work pool on many hosts",
    options: prefectServerOptionsSchema,
    // Runs execute on worker hosts that share the batch root; the drains write every start and
    // end there, stop their runs' groups, and a drain's host watchdog stops what is left.
    capabilities: { resume: true, strictStop: true, cancellation: true, perRunLogs: true, remote: true },

    async check({ options, log }) {
      const server = SharedServer.connect(apiUrlOf(options.prefectApiUrl), credentialsOf(options));
      const version = await server.check(options.workPool, log);
      const workers = await server.onlineWorkers(options.workPool);
      log.info(
        workers.length > 0
          ? `Prefect ${version} at ${server.apiUrl}: ${workers.length} workers online in pool ${options.workPool}`
          : `Prefect ${version} at ${server.apiUrl}: no worker of pool ${options.workPool} is online yet; start one on each worker host with \`prefect worker start --pool ${options.workPool}\` (the batch waits --pickup-timeout ${options.pickupTimeout}s)`,
      );
      return server;
    },

    async setupBatch(ctx, server) {
      const { options, batch, executionId, log, onCleanup } = ctx;
      const dir = path.join(batch.root, "scratch", ".prefect-server", executionId);
      const flowDir = path.join(dir, "flow");
      copyFlow(flowDir);
      const callerEnvFile = path.join(dir, "caller-env.json");
      const env = engineEnv({ flowDir, callerEnvFile });
      // Only the batch's owner reads it: it holds the caller's environment.
      writeFileSync(callerEnvFile, callerEnvFileContent(process.env, env), { mode: 0o600 });
      onCleanup(() => rmSync(callerEnvFile, { force: true }));

      const workDir = path.join(dir, "work");
      const watchdog = await guardBatch(options.python, options.killGrace, ctx);

      await server.ensurePool(options.workPool, log);
      const flow = must(
        await server.client.POST("/flows/", { body: { name: FLOW_NAME } }),
        "creating flow sierra",
      );
      const name = deploymentName({ user: os.userInfo().username, host: os.hostname(), executionId });
      const deployment = must(
        await server.client.POST("/deployments/", {
          body: {
            ...deploymentPayload({
              flowId: flow.id,
              pool: options.workPool,
              // The pool's default queue, whatever it is called: plain workers serve every queue.
              queue: null,
              flowDir,
              jobVariables: jobVariables(env, flowDir),
            }),
            name,
            description: `sierra-exec batch ${batch.root}, started by ${name}`,
          },
        }),
        `creating deployment ${FLOW_NAME}/${name}`,
      );
      onCleanup(async () => {
        const deleted = await server.client.DELETE("/deployments/{id}", {
          params: { path: { id: deployment.id } },
        });
        if (!deleted.response.ok && deleted.response.status !== 404) {
          log.warn(`could not delete deployment ${FLOW_NAME}/${name}: HTTP ${deleted.response.status}`);
        }
      });
      log.info(`deployment ${FLOW_NAME}/${name} on pool ${options.workPool} (state in ${dir})`);
      const totalJobs = options.totalJobs ?? 0;
      const spreading = new Spreading(server, { pool: options.workPool, jobs: ctx.jobs, totalJobs, log });
      const drains = new Drains(
        {
          client: server.client,
          deploymentId: deployment.id,
          uiUrl: uiUrlOf(server.apiUrl),
          // The server is the lab's: the batch neither starts nor restarts it.
          failure: () => undefined,
          serving: () => true,
          ensureDrains: (view, create) => spreading.ensureDrains(view, create),
          pickup: {
            seconds: options.pickupTimeout,
            error: `no worker of pool ${options.workPool} took the batch's flow run within ${options.pickupTimeout} s`,
          },
        },
        {
          workDir,
          executionId,
          jobs: ctx.jobs,
          totalJobs,
          killGrace: options.killGrace,
          strict: ctx.core.execStrict,
          drainTimeout: options.drainTimeout,
          log,
        },
      );
      // A CLI killed with -9 cannot stop its drains: its watchdog writes their stop file.
      watchdog.runOnDeath(["touch", path.join(workDir, "stop")]);
      return { drains };
    },

    execute: (runs, ctx) => ctx.state.drains.executeSet(runs, ctx),

    async teardownBatch(_ctx, state) {
      await state?.drains.finish();
    },
  });

export default prefectServer;
