// The `prefect.localserver` execenv (SIERRA's `prefectserver.local`): each batch gets its own
// Prefect 3 server on a free loopback port, set up over its REST API; one drain flow run of
// @sierra-exec/prefect3 serves every set of runs of the batch, each run a Prefect task, exactly
// --exec-jobs-per-node at once. No worker: the flow run goes straight to a Prefect engine that
// imported Prefect while the server booted (prefect3's Engines).
import { once } from "node:events";
import path from "node:path";
import {
  defineExecEnv,
  guardBatch,
  type HelperProcess,
  KeepAlive,
  killGraceOption,
  z,
} from "@sierra-exec/core";
import {
  connect,
  Drains,
  Engines,
  findPrefect,
  PREFECT_RANGE_TEXT,
  PREFECT_VERSION,
  type PrefectClient,
  PrefectServer,
  setUpDeployment,
  templateDatabase,
} from "@sierra-exec/prefect3";

const name = z.string().regex(/^[\w.-]+$/, "must be letters, digits, '.', '_' or '-'");

export const prefectLocalOptionsSchema = z.object({
  workPool: name
    .default("sierra-pool")
    .meta({ valueName: "NAME" })
    .describe("Prefect work pool of the batch"),
  workQueue: name
    .default("sierra-queue")
    .meta({ valueName: "NAME" })
    .describe("Work queue of that pool the batch's flow run is queued in"),
  prefectPython: z
    .string()
    .optional()
    .meta({
      env: "SIERRA_PREFECT_PYTHON",
      valueName: "PATH",
      defaultLabel: `a Prefect ${PREFECT_RANGE_TEXT} on PATH or in the active Python, else ${PREFECT_VERSION} installed in the cache directory`,
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
  client: PrefectClient;
  /** The batch's server, started again if it dies mid-batch. */
  serverAlive: KeepAlive;
  /** The engines of the batch's drain flow runs. */
  engines: Engines;
  /** The batch's drain: one flow run serving every set of runs. */
  drains: Drains;
}

/** A drain that died (its engine killed) is replaced this many times at most. */
const DRAIN_RESTARTS = 3;
/** How long the batch's engine may take to start a drain before its runs fail. */
const PICKUP_SECONDS = 120;
/** A drain silent this long is dead (it heartbeats every 2 s). */
const DRAIN_TIMEOUT = 20;

export default defineExecEnv({
  name: "prefect.localserver",
  aliases: ["prefectserver.local"],
  description: "Runs on a local Prefect 3 server of its own (UI included), one task per run, N at a time",
  options: prefectLocalOptionsSchema,
  // Records come from the flow's events file, strict stops inside the flow, and each run
  // is its own process group that cancellation stops as a whole.
  capabilities: { resume: true, strictStop: true, cancellation: true, perRunLogs: true, remote: false },

  async check({ options, log, signal }) {
    const install = await findPrefect(options.prefectPython, { log, signal });
    log.debug(`Prefect ${install.version} from ${install.from}: ${install.python}`);
    return { install, template: await templateDatabase(install, { log }) };
  },

  async setupBatch(ctx, { install, template }) {
    const { options, batch, log, signal, executionId, onCleanup } = ctx;
    const dir = path.join(batch.root, "scratch", ".prefect", executionId);
    const watchdog = await guardBatch(install.python, options.killGrace, ctx);
    const since = (from: number) => `${((Date.now() - from) / 1000).toFixed(2)}s`;
    const startedAt = Date.now();
    let serverProcess: HelperProcess | undefined;
    const engines = new Engines({
      python: install.python,
      dir,
      killGrace: options.killGrace,
      onStarted: (started) => watchdog.watch(started.pid),
      log,
    });
    onCleanup(() => serverProcess?.stop());
    // Registered after the server's: the engines stop first (their drains stop their runs).
    onCleanup(() => engines.stopAll());
    const server = await PrefectServer.start({
      python: install.python,
      dir,
      templateDatabase: template,
      executionId,
      startTimeout: options.startTimeout,
      signal,
      onStarted: (started) => {
        serverProcess = started;
        watchdog.watch(started.pid);
      },
      // The drain's engine imports Prefect while the server boots, and waits for its flow run.
      alongside: (on) => engines.warmUp(on),
    });
    log.debug(`server ready in ${since(startedAt)}`);
    const setupAt = Date.now();
    const client = connect(server.apiUrl);
    const deployment = await setUpDeployment(client, {
      pool: options.workPool,
      queue: options.workQueue,
    });
    log.debug(`set up over the API in ${since(setupAt)}`);
    const serverAlive = new KeepAlive(
      server.process,
      async () => {
        await server.restart();
        return server.process;
      },
      log,
    );
    log.info(`Prefect ${install.version} UI: ${server.url} (state and logs in ${dir})`);
    const drains = new Drains(
      {
        client,
        deploymentId: deployment.id,
        uiUrl: server.url,
        failure: () => serverAlive.failure,
        serving: () => serverAlive.check(),
        // One drain for the whole batch, handed to the waiting engine; another (on an engine
        // started for it) only if it died.
        ensureDrains: async (view, create) => {
          if (view.live.length + view.pending === 0 && view.created <= DRAIN_RESTARTS)
            await engines.run(await create(), client);
        },
        stopEngine: (flowRun) => engines.stop(flowRun),
        pickup: {
          seconds: PICKUP_SECONDS,
          error: `the batch's Prefect engine started no drain within ${PICKUP_SECONDS}s (see ${engines.log})`,
        },
      },
      {
        workDir: path.join(dir, "work"),
        executionId,
        jobs: ctx.jobs,
        totalJobs: 0,
        killGrace: options.killGrace,
        strict: ctx.core.execStrict,
        drainTimeout: DRAIN_TIMEOUT,
        log,
      },
    );
    return { server, client, serverAlive, engines, drains };
  },

  execute: (runs, ctx) => ctx.state.drains.executeSet(runs, ctx),

  async teardownBatch({ options, log, signal }, state) {
    await state?.drains.finish();
    if (!state || !options.keepServer || signal.aborted) return;
    log.info(`the Prefect UI stays up at ${state.server.url}: press Ctrl-C to stop it`);
    await once(signal, "abort");
  },
});
