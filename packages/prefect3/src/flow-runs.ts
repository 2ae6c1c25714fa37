// Executes a set of runs as one flow run of the deployment and follows it: run starts and
// ends come from the events file the flow appends to (exact pids, exit statuses and times,
// no recording lag), the flow run's state from the API. On a stop, cancels the flow run.
import { closeSync, mkdirSync, openSync, readSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type ExecuteContext, type KeepAlive, type Run, runSpec, type StopReason } from "@sierra-exec/core";
import { type FlowRun, must, type PrefectClient } from "./api.js";
import { describeState, isTerminal, lostOutcome, outcomeOf, parseEvents, type RunEvent } from "./states.js";

export interface FlowRunSettings {
  jobs: number;
  /** Seconds between TERM and KILL when runs are stopped. */
  killGrace: number;
  strict: boolean;
  /** The file the flow reads its runs from (JSON, see `flowRunsFile`). */
  runsFile: string;
  /** The file the flow appends run events to. */
  events: string;
}

/**
 * What the runs file holds for python/flow.py. Runs travel by reference: as flow-run
 * parameters, a batch of a few thousand runs exceeds the server's 512 KiB limit.
 */
export const runsFileContent = (runs: readonly Run[]) => JSON.stringify(runs.map(runSpec));

/** The flow's parameters (see python/flow.py). */
export const flowRunParameters = (settings: FlowRunSettings) => ({
  runs_file: settings.runsFile,
  jobs: settings.jobs,
  kill_grace_s: settings.killGrace,
  strict: settings.strict,
  events: settings.events,
});

/** A flow run is named after its experiment, or `batch` when it holds several. */
export const flowRunName = (runs: readonly Run[]) =>
  new Set(runs.map((run) => run.exp)).size === 1 ? (runs[0]?.exp ?? "batch") : "batch";

/** The engine's pid from `infrastructure_pid` (`"1234"` or `"host:1234"`); 0 if none. */
const enginePid = (infrastructurePid: string | null | undefined) =>
  Number(/(\d+)$/.exec(infrastructurePid ?? "")?.[1] ?? 0);

/** Is the engine of `infrastructure_pid` alive? */
export function engineAlive(infrastructurePid: string | null | undefined): boolean {
  const pid = enginePid(infrastructurePid);
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface Backend {
  client: PrefectClient;
  deploymentId: string;
  /** The batch's server and worker, started again if they die mid-batch. */
  server: KeepAlive;
  worker: KeepAlive;
  /** Where runs and events files go. */
  dir: string;
  uiUrl: string;
  executionId: string;
  killGrace: number;
}

const POLL_MS = 250;
/** After a cancel: force CANCELLED once the engine is gone (a run cancelled while its engine booted). */
const FORCE_AFTER_MS = 5000;
/** Once every run has ended, how long the flow run's own end is waited for. */
const SETTLE_MS = 30_000;

let flowRunCount = 0;

export async function executeFlowRun(
  runs: readonly Run[],
  ctx: ExecuteContext<unknown, unknown>,
  backend: Backend,
): Promise<void> {
  const { client } = backend;
  // The server or worker died for good during an earlier flow run (said then): these runs cannot run.
  if (backend.server.failure ?? backend.worker.failure) return;
  const number = ++flowRunCount;
  const files = path.join(backend.dir, "flow-runs");
  const events = path.join(files, `${number}.events.jsonl`);
  const runsFile = path.join(files, `${number}.runs.json`);
  mkdirSync(files, { recursive: true });
  writeFileSync(events, "");
  writeFileSync(runsFile, runsFileContent(runs));
  const name = flowRunName(runs);
  const parameters = flowRunParameters({
    jobs: ctx.jobs,
    killGrace: backend.killGrace,
    strict: ctx.core.execStrict,
    runsFile,
    events,
  });
  const created = must(
    await client.POST("/deployments/{id}/create_flow_run", {
      params: { path: { id: backend.deploymentId } },
      // The key makes a retried request (after a 503) return the same flow run.
      body: { name, parameters, idempotency_key: `${backend.executionId}-${number}` },
    }),
    "creating a flow run",
  );
  const createdAt = Date.now();
  ctx.log.info(`flow run ${name}: ${runs.length} runs, ${backend.uiUrl}/runs/flow-run/${created.id}`);

  const byId = new Map(runs.map((run) => [run.id, run]));
  const started = new Set<string>();
  const fd = openSync(events, "r");
  let offset = 0;
  let rest = "";
  const buffer = Buffer.alloc(1 << 16);
  const follow = () => {
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, offset);
      if (read === 0) break;
      offset += read;
      rest += buffer.toString("utf8", 0, read);
    }
    const parsed = parseEvents(rest);
    rest = parsed.rest;
    for (const event of parsed.events) dispatch(event);
  };
  const dispatch = (event: RunEvent) => {
    if ("started" in event) {
      const run = byId.get(event.started);
      if (!run) return;
      if (started.size === 0 && byId.size === runs.length) {
        ctx.log.debug(
          `first run started ${((event.at * 1000 - createdAt) / 1000).toFixed(2)}s after the flow run was created`,
        );
      }
      started.add(run.id);
      ctx.runStarted(run, { pid: event.pid, at: new Date(Math.round(event.at * 1000)) });
    } else {
      const run = byId.get(event.ended);
      if (!run) return;
      started.delete(run.id);
      byId.delete(run.id);
      ctx.runEnded(run, outcomeOf(event));
    }
  };

  let flowRun: FlowRun = created;
  let shown = "";
  let stopSeenAt: number | undefined;
  let cancelledAt: number | undefined;
  const cancel = async () => {
    cancelledAt = Date.now();
    const answer = await client.POST("/flow_runs/{id}/set_state", {
      params: { path: { id: created.id } },
      body: { state: { type: "CANCELLING", name: "Cancelling", message: "stopped by sierra" }, force: false },
    });
    ctx.log.debug(`cancel flow run ${name}: ${JSON.stringify(answer.data?.status ?? answer.error)}`);
  };
  /**
   * The server or worker is gone for good: the engine gets TERM (the flow then stops its
   * runs and writes their ends) and the ends that reach the events file are recorded.
   */
  const giveUp = async (failure: string) => {
    const engine = enginePid(flowRun.infrastructure_pid);
    if (engine) {
      try {
        process.kill(engine, "SIGTERM");
      } catch {
        // gone already
      }
    }
    const deadline = Date.now() + (backend.killGrace + 5) * 1000;
    while (started.size > 0 && engineAlive(flowRun.infrastructure_pid) && Date.now() < deadline) {
      await sleep(50);
      follow();
    }
    follow();
    ctx.log.warn(`${failure}: ${byId.size} of flow run ${name}'s runs did not run to their end`);
  };
  // The flow run's state is read in the background: a server swamped by the task-run events
  // of a large flow run (SQLite locked) may take minutes to answer, and the runs' records
  // come from the events file meanwhile.
  let reading: Promise<void> | undefined;
  let answered = false;
  let readError: unknown;
  const read = () => {
    reading = (async () => {
      try {
        const answer = await client.GET("/flow_runs/{id}", { params: { path: { id: created.id } } });
        flowRun = must(answer, "reading the flow run");
        answered = true;
      } catch (error) {
        // A server that died is noticed by its process; one that is only slow, answers later.
        if (backend.server.process.running && (error as Error).name !== "TimeoutError") readError = error;
      } finally {
        reading = undefined;
      }
    })();
  };
  let allEndedAt: number | undefined;
  try {
    for (;;) {
      follow();
      const failure = backend.server.failure ?? backend.worker.failure;
      if (failure) {
        await giveUp(failure);
        return;
      }
      if (readError !== undefined) throw readError;
      // Every run has ended: the flow run's end only names its state, worth a short wait.
      if (byId.size === 0) allEndedAt ??= Date.now();
      if (allEndedAt !== undefined && Date.now() - allEndedAt > SETTLE_MS) {
        ctx.log.debug(`flow run ${name}: every run has ended; the server has not said the flow run has`);
        break;
      }
      // Short-circuit: the worker is started again only once the server serves.
      if (backend.server.check() && backend.worker.check() && !reading) {
        if (answered) {
          answered = false;
          const state = describeState(flowRun);
          if (state !== shown) ctx.log.info(`flow run ${name}: ${state}`);
          shown = state;
          if (isTerminal(flowRun.state_type)) break;
          if (ctx.signal.aborted) {
            stopSeenAt ??= Date.now();
            // With --exec-strict the flow stops itself at the first failure, as exactly as a
            // local launcher would; a cancel is only the fallback if it does not end.
            const strictStop = (ctx.signal.reason as StopReason | undefined)?.kind === "strict";
            const patience = strictStop ? (backend.killGrace + 30) * 1000 : 0;
            if (cancelledAt === undefined && Date.now() - stopSeenAt >= patience) await cancel();
            if (
              cancelledAt !== undefined &&
              flowRun.state_type === "CANCELLING" &&
              Date.now() - cancelledAt > FORCE_AFTER_MS &&
              !engineAlive(flowRun.infrastructure_pid)
            ) {
              must(
                await client.POST("/flow_runs/{id}/set_state", {
                  params: { path: { id: created.id } },
                  body: {
                    state: { type: "CANCELLED", name: "Cancelled", message: "stopped by sierra" },
                    force: true,
                  },
                }),
                "marking the flow run cancelled",
              );
            }
            // An engine that ignores the cancel is stopped with the worker's group at tear-down.
            if (cancelledAt !== undefined && Date.now() - cancelledAt > (backend.killGrace + 40) * 1000)
              break;
          }
        }
        read();
      }
      await sleep(POLL_MS);
    }
    follow();
  } finally {
    closeSync(fd);
  }
  // Started runs whose end the flow never wrote: the flow run ended (crashed) before them.
  if (isTerminal(flowRun.state_type)) {
    for (const id of started) {
      const run = byId.get(id);
      if (run) ctx.runEnded(run, lostOutcome(flowRun));
    }
  }
}
