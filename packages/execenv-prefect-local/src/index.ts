// The `prefect.localserver` execenv (SIERRA's `prefectserver.local`): each batch gets its own
// Prefect 3 server on a free loopback port, set up over its REST API, and a process worker;
// runs execute as tasks of a flow (python/flow.py), exactly --exec-jobs-per-node at once.
import { once } from "node:events";
import path from "node:path";
import {
  defineExecEnv,
  killGraceOption,
  markedProcesses,
  stopMarkedProcesses,
  Watchdog,
  z,
} from "@sierra-exec/core";
import { connect, type PrefectClient } from "./api.js";
import { executeFlowRun } from "./flow-runs.js";
import { MARKER } from "./prefect-env.js";
import { findPrefect, type PrefectInstall, templateDatabase } from "./prefect-install.js";
import { type PrefectProcess, PrefectServer } from "./server.js";
import { setUpDeployment } from "./setup-api.js";
import { startWorker } from "./worker.js";

export { findPrefect, PREFECT_SPEC, PREFECT_VERSION, templateDatabase } from "./prefect-install.js";
export { PrefectServer } from "./server.js";

const name = z.string().regex(/^[\w.-]+$/, "must be letters, digits, '.', '_' or '-'");

export const prefectLocalOptionsSchema = z.object({
  workPool: name
    .default("sierra-pool")
    .meta({ valueName: "NAME" })
    .describe("Prefect work pool of the batch"),
  workQueue: name
    .default("sierra-queue")
    .meta({ valueName: "NAME" })
    .describe("Work queue of that pool the worker takes flow runs from"),
  prefectPython: z
    .string()
    .optional()
    .meta({
      env: "SIERRA_PREFECT_PYTHON",
      valueName: "PATH",
      defaultLabel: "the prefect on PATH if it is 3.8.8, else one installed in the cache directory",
    })
    .describe("Python with Prefect 3 installed"),
  keepServer: z
    .boolean()
    .default(false)
    .describe("After the batch, keep the Prefect server and its UI up until Ctrl-C (exit status 130 then)"),
  killGrace: killGraceOption,
  startTimeout: z
    .number()
    .positive("must be more than 0 seconds")
    .default(180)
    .meta({ valueName: "SECONDS" })
    .describe("How long the Prefect server may take to get ready"),
});

export interface PrefectLocalState {
  server: PrefectServer;
  worker: PrefectProcess;
  client: PrefectClient;
  deploymentId: string;
  /** The batch's Prefect state: PREFECT_HOME, database, logs, events files. */
  dir: string;
}

// check() finds Prefect and setupBatch() uses it: found once per process and option.
const installs = new Map<string, Promise<PrefectInstall>>();

export default defineExecEnv({
  name: "prefect.localserver",
  aliases: ["prefectserver.local"],
  description: "Runs on a local Prefect 3 server of its own (UI included), one task per run, N at a time",
  options: prefectLocalOptionsSchema,
  // Records come from the flow's events file, strict stops inside the flow, and each run
  // is its own process group that cancellation stops as a whole.
  capabilities: { resume: true, strictStop: true, cancellation: true, perRunLogs: true, remote: false },

  async check({ options, log, signal }) {
    const key = options.prefectPython ?? "";
    if (!installs.has(key)) {
      const found = findPrefect(options.prefectPython, { log, signal });
      installs.set(key, found);
      found.catch(() => installs.delete(key));
    }
    await templateDatabase(await (installs.get(key) as Promise<PrefectInstall>), { log });
  },

  async setupBatch({ options, batch, log, signal, executionId, onCleanup }) {
    const install = await (installs.get(options.prefectPython ?? "") as Promise<PrefectInstall>);
    const dir = path.join(batch.root, "scratch", ".prefect", executionId);
    // Dismissed after everything else, once nothing is left for it to stop. Its grace lets
    // the flow's own stop (TERM, KILL after --kill-grace) finish before the groups are KILLed.
    const watchdog = await Watchdog.start(install.python, executionId, Math.max(5, options.killGrace + 3));
    onCleanup(() => watchdog.dismiss());
    // Last of all: whatever of this batch is still alive (an engine or run that escaped its group).
    onCleanup(async () => {
      const left = await stopMarkedProcesses(MARKER, executionId);
      if (left.length > 0) log.debug(`clean-up: stopped ${left.length} leftover processes`);
      const still = markedProcesses(MARKER, executionId);
      if (still.length > 0) log.warn(`clean-up: processes ${still.join(", ")} of this batch are still alive`);
    });
    const since = (from: number) => `${((Date.now() - from) / 1000).toFixed(2)}s`;
    const startedAt = Date.now();
    let serverProcess: PrefectProcess | undefined;
    onCleanup(() => serverProcess?.stop());
    const server = await PrefectServer.start(
      {
        python: install.python,
        dir,
        templateDatabase: await templateDatabase(install, { log }),
        executionId,
        startTimeout: options.startTimeout,
        signal,
      },
      (started) => {
        serverProcess = started;
        watchdog.watch(started.pid);
      },
    );
    log.debug(`server ready in ${since(startedAt)}`);
    const setupAt = Date.now();
    const client = connect(server.apiUrl);
    const deployment = await setUpDeployment(client, {
      pool: options.workPool,
      queue: options.workQueue,
      python: install.python,
    });
    const worker = await startWorker(server, {
      python: install.python,
      dir,
      pool: options.workPool,
      queue: options.workQueue,
    });
    log.debug(`set up over the API and started the worker in ${since(setupAt)}`);
    // Registered after the server's: the worker stops first, taking any engine with it.
    watchdog.watch(worker.pid);
    onCleanup(() => worker.stop());
    log.info(`Prefect ${install.version} UI: ${server.url} (state and logs in ${dir})`);
    return { server, worker, client, deploymentId: deployment.id, dir };
  },

  execute: (runs, ctx) =>
    executeFlowRun(runs, ctx, {
      client: ctx.state.client,
      deploymentId: ctx.state.deploymentId,
      worker: ctx.state.worker,
      dir: ctx.state.dir,
      uiUrl: ctx.state.server.url,
      executionId: ctx.executionId,
      killGrace: ctx.options.killGrace,
    }),

  async teardownBatch({ options, log, signal }, state) {
    if (!state || !options.keepServer || signal.aborted) return;
    await state.worker.stop();
    log.info(`the Prefect UI stays up at ${state.server.url}: press Ctrl-C to stop it`);
    await once(signal, "abort");
  },
});
