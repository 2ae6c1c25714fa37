// Executes a set of runs as one flow run of the deployment and follows it: run starts and
// ends come from the events file the flow appends to (exact pids, exit statuses and times,
// no recording lag), the flow run's state from the API. On a stop, cancels the flow run.
import { closeSync, mkdirSync, openSync, readSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type ExecuteContext, type Run, runSpec, type StopReason } from "@sierra-exec/core";
import { type FlowRun, must, type PrefectClient } from "./api.js";
import type { PrefectProcess } from "./server.js";
import { lastLine } from "./server.js";
import { describeState, isTerminal, lostOutcome, outcomeOf, parseEvents, type RunEvent } from "./states.js";

export interface FlowRunSettings {
  jobs: number;
  /** Seconds between TERM and KILL when runs are stopped. */
  killGrace: number;
  strict: boolean;
  /** The file the flow appends run events to. */
  events: string;
}

/** The flow's parameters for `runs` (see python/flow.py). */
export function flowRunParameters(runs: readonly Run[], settings: FlowRunSettings) {
  return {
    runs: runs.map(runSpec),
    jobs: settings.jobs,
    kill_grace_s: settings.killGrace,
    strict: settings.strict,
    events: settings.events,
  };
}

/** A flow run is named after its experiment, or `batch` when it holds several. */
export const flowRunName = (runs: readonly Run[]) =>
  new Set(runs.map((run) => run.exp)).size === 1 ? (runs[0]?.exp ?? "batch") : "batch";

/** The engine's pid from `infrastructure_pid` (`"1234"` or `"host:1234"`), if it is alive. */
export function engineAlive(infrastructurePid: string | null | undefined): boolean {
  const pid = Number(/(\d+)$/.exec(infrastructurePid ?? "")?.[1] ?? 0);
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
  worker: PrefectProcess;
  /** Where events files go. */
  dir: string;
  uiUrl: string;
  executionId: string;
  killGrace: number;
}

const POLL_MS = 250;
/** After a cancel: force CANCELLED once the engine is gone (a run cancelled while its engine booted). */
const FORCE_AFTER_MS = 5000;

let flowRunCount = 0;

export async function executeFlowRun(
  runs: readonly Run[],
  ctx: ExecuteContext<unknown, unknown>,
  backend: Backend,
): Promise<void> {
  const { client } = backend;
  const number = ++flowRunCount;
  const events = path.join(backend.dir, "flow-runs", `${number}.events.jsonl`);
  mkdirSync(path.dirname(events), { recursive: true });
  writeFileSync(events, "");
  const name = flowRunName(runs);
  const parameters = flowRunParameters(runs, {
    jobs: ctx.jobs,
    killGrace: backend.killGrace,
    strict: ctx.core.execStrict,
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
  try {
    for (;;) {
      follow();
      flowRun = must(
        await client.GET("/flow_runs/{id}", { params: { path: { id: created.id } } }),
        "reading the flow run",
      );
      const state = describeState(flowRun);
      if (state !== shown) ctx.log.info(`flow run ${name}: ${state}`);
      shown = state;
      if (isTerminal(flowRun.state_type)) break;
      if (!backend.worker.running) {
        throw new Error(
          `the Prefect worker exited (status ${backend.worker.exitCode}): ${lastLine(backend.worker.log)}`,
        );
      }
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
        if (cancelledAt !== undefined && Date.now() - cancelledAt > (backend.killGrace + 40) * 1000) break;
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
