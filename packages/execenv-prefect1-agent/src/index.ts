// The `prefect1.localagent` execenv: a batch runs as Prefect 1 flow runs that a real
// Prefect 1.4.1 local agent picks up, against an embedded Prefect 1 backend (or a Prefect
// Server 1 the user runs). Progress and records follow the backend's task-run states.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  defineExecEnv,
  type ExecEnv,
  type Run,
  SierraError,
  stopProcessGroup,
  Watchdog,
} from "@sierra-exec/core";
import type { Agent } from "./agent.js";
import type { Backend } from "./backend/index.js";
import { flowFiles } from "./flow-spec.js";
import { followFlowRun } from "./follow.js";
import { type BatchDirs, batchDirs, HEARTBEAT_SECONDS, prefectEnv } from "./isolation.js";
import { checkOptions, prefect1OptionsSchema } from "./options.js";
import { isA } from "./prefect-states.js";
import { PYTHON_DIR, prefect1Python, probePrefect1 } from "./python.js";
import { Server1Api } from "./server1-api.js";

export { prefect1OptionsSchema };

const PROJECT = "sierra-exec";

interface BatchState {
  python: string;
  dirs: BatchDirs;
  env: Record<string, string>;
  api: Server1Api;
  labels: string[];
  backend: Backend | undefined;
  agent: Agent | undefined;
  flowRuns: string[];
}

/**
 * TERM, then KILL after the grace, to every run still listed as running; resolves once
 * they are gone, and forgets them (their pids may be reused later).
 */
async function stopRuns(pidDir: string, graceMs: number): Promise<void> {
  let files: string[] = [];
  try {
    files = readdirSync(pidDir);
  } catch {
    return;
  }
  await Promise.all(
    files.map(async (file) => {
      const pgid = Number(readFileSync(path.join(pidDir, file), "utf8"));
      if (pgid > 0) await stopProcessGroup(pgid, { graceMs });
      rmSync(path.join(pidDir, file), { force: true });
    }),
  );
}

// Annotated so that its published type names the schema, not zod's types (zod is core's dependency).
const prefect1: ExecEnv<typeof prefect1OptionsSchema, BatchState> = defineExecEnv({
  name: "prefect1.localagent",
  description: "Runs as Prefect 1 flow runs picked up by a real Prefect 1.4.1 local agent",
  options: prefect1OptionsSchema,
  async check({ options, log, signal }) {
    checkOptions(options);
    const python = await prefect1Python(options, { log, signal });
    log.debug(`Prefect ${await probePrefect1(python, !options.prefect1Python)} with ${python}`);
  },
  async setupBatch({ options, batch, executionId, log, signal, onCleanup }): Promise<BatchState> {
    const python = await prefect1Python(options, { log, signal });
    // If the CLI dies without cleaning up (kill -9), the watchdog stops the agent's group
    // and whatever carries the batch's marker. Registered first, it is dismissed last.
    const watchdog = await Watchdog.start(python, executionId, options.killGrace + 3);
    onCleanup(() => watchdog.dismiss());
    const dirs = batchDirs(batch.root, executionId);
    for (const dir of [dirs.home, dirs.tmp, dirs.flows, dirs.pids]) mkdirSync(dir, { recursive: true });
    onCleanup(() => rmSync(dirs.root, { recursive: true, force: true }));
    // The backend (graphql), the agent and execa load only when a batch runs on this execenv:
    // every CLI start imports the built-in execenvs.
    const backend = options.prefect1Api
      ? undefined
      : await (await import("./backend/index.js")).startBackend();
    if (backend) onCleanup(() => backend.close());
    const api = new Server1Api(options.prefect1Api ?? (backend as Backend).url);
    const env = { ...prefectEnv(process.env, dirs, api.url), SIERRA_EXEC_ID: executionId };
    // A label unique to the batch keeps other agents (and other batches' agents) off its runs.
    const labels = options.agentRunning ? options.labels : [`sierra-${executionId}`, ...options.labels];
    const state: BatchState = { python, dirs, env, api, labels, backend, agent: undefined, flowRuns: [] };
    // Flow runs that nothing will finish any more are marked Cancelled, on a server the user keeps.
    onCleanup(async () => {
      for (const flowRunId of state.flowRuns) {
        const progress = await api.progress(flowRunId).catch(() => undefined);
        if (progress && !isA(progress.state, "Finished")) {
          await api.setCancelled(flowRunId, "Stopped by sierra-exec").catch(() => {});
        }
      }
    });
    // Runs whose flow-run process died without stopping them.
    onCleanup(() => stopRuns(dirs.pids, options.killGrace * 1000));
    if (!options.agentRunning) {
      const { startAgent } = await import("./agent.js");
      const agent = await startAgent(
        { python, labels, showFlowLogs: options.showFlowLogs, importPaths: options.importPaths },
        { env, cwd: dirs.root, log, showFlowLogs: options.showFlowLogs },
      );
      state.agent = agent;
      watchdog.watch(agent.pid);
      onCleanup(() => agent.stop(options.killGrace * 1000));
    }
    return state;
  },
  async execute(runs, ctx) {
    const { options, state } = ctx;
    const first = runs[0] as Run;
    const scope = ctx.core.execParallelismParadigm === "per-exp" ? first.exp : "batch";
    const index = state.flowRuns.length + 1;
    const files = flowFiles(
      runs,
      {
        name: `sierra ${path.basename(ctx.batch.root)} ${scope} (${ctx.executionId})`,
        labels: state.labels,
        env: options.env,
        workingDir: state.dirs.root,
        jobs: ctx.jobs,
        strict: ctx.core.execStrict,
        killGrace: options.killGrace,
        pidDir: state.dirs.pids,
        pythonDir: PYTHON_DIR,
      },
      state.dirs.flows,
      `flow${index}`,
    );
    writeFileSync(files.specFile, JSON.stringify(files.spec, null, 2));
    writeFileSync(files.script, files.scriptText);

    const { execa } = await import("execa");
    const registration = await execa(
      state.python,
      [path.join(PYTHON_DIR, "register.py"), files.script, PROJECT],
      {
        env: state.env,
        extendEnv: false,
        cwd: state.dirs.root,
        reject: false,
        all: true,
        cancelSignal: ctx.signal,
      },
    );
    if (ctx.signal.aborted) return;
    if (registration.exitCode !== 0) {
      const last = (registration.all ?? "").trim().split("\n").at(-1);
      throw new SierraError(`registering the flow with ${state.api.url} failed: ${last}`);
    }
    const { flowId } = JSON.parse(registration.stdout.trim().split("\n").at(-1) as string) as {
      flowId: string;
    };
    const flowRunId = await state.api.createFlowRun({
      flow_id: flowId,
      flow_run_name: `${scope} (${ctx.executionId})`,
      idempotency_key: `${ctx.executionId}-${index}`,
    });
    state.flowRuns.push(flowRunId);
    ctx.log.debug(`flow run ${flowRunId} of flow ${flowId} created`);
    // The agent started while the flow registered.
    await state.agent?.ready;
    if (state.agent && !options.pollOnly) await state.agent.poke();

    const { backend } = state;
    await followFlowRun({
      api: state.api,
      flowRunId,
      runs,
      ctx,
      pidDir: state.dirs.pids,
      ...(backend ? { subscribe: (listener: () => void) => backend.store.onChange(listener) } : {}),
      stopRuns: () => stopRuns(state.dirs.pids, options.killGrace * 1000),
      ...(state.agent ? { agentExited: state.agent.exited } : {}),
      settleMs: options.killGrace * 1000 + 10_000,
      staleMs: 4 * HEARTBEAT_SECONDS * 1000,
    });
  },
});

export default prefect1;
