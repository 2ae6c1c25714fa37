// Follows one flow run in the backend until it is over, turning its task runs' states into
// the core's run starts and ends. On abort it cancels the flow run (the backend then refuses
// to start any further task) and stops the running runs, then collects how they ended.
import { readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { ExecuteContext, KeepAlive, Run } from "@sierra-exec/core";
import { slugOf } from "./flow-spec.js";
import { viewTaskRun } from "./outcomes.js";
import type { Server1Api } from "./server1-api.js";
import { isA } from "./states.js";

export interface FollowInput {
  api: Server1Api;
  flowRunId: string;
  runs: readonly Run[];
  ctx: Pick<ExecuteContext<unknown, unknown>, "runStarted" | "runEnded" | "log" | "signal">;
  /** Directory where running runs leave their process group ids: empty once none runs. */
  pidDir: string;
  /** Calls back on every change in the backend, when it is ours (otherwise we poll). */
  subscribe?: (listener: () => void) => () => void;
  /** Stops the runs that are running (on abort). */
  stopRuns: () => Promise<void>;
  /** The agent the batch started, if any: started again if it dies. */
  agent?: KeepAlive;
  /** After a stop, how long runs get to report how they ended. */
  settleMs: number;
  /** A Running flow run without a heartbeat for this long has lost its flow-run process. */
  staleMs: number;
}

const POLL_MS = 500;
const SCHEDULED_HINT_MS = 60_000;
const IN_FLIGHT_MS = 5000;

const runsInPidDir = (dir: string) => {
  try {
    return readdirSync(dir).length;
  } catch {
    return 0;
  }
};

export async function followFlowRun(input: FollowInput): Promise<void> {
  const { api, flowRunId, ctx } = input;
  const bySlug = new Map(input.runs.map((run) => [slugOf(run), run]));
  const started = new Map<string, Run>();
  const ended = new Set<string>();
  const unreported = new Map<string, string>();
  let wake = () => {};
  const unsubscribe = input.subscribe?.(() => wake());
  const onAbort = () => wake();
  ctx.signal.addEventListener("abort", onAbort);

  let stopped: Promise<void> | undefined;
  let settleBy = Number.POSITIVE_INFINITY;
  const scheduledSince = Date.now();
  let hinted = false;
  let last = "";
  try {
    for (;;) {
      // Woken by a change, or after the poll interval.
      const woken = new Promise<void>((resolve) => {
        wake = resolve;
      });
      const stop = () => {
        stopped = Promise.all([api.cancelFlowRun(flowRunId).catch(() => {}), input.stopRuns()]).then(() => {
          settleBy = Date.now() + input.settleMs;
          wake();
        });
      };
      if (ctx.signal.aborted && !stopped) stop();
      const progress = await api.progress(flowRunId);
      // Server 1 leaves this to its zombie killer; with nobody to finish the flow run, stop its runs.
      const silentFor = Date.now() - Date.parse(progress.heartbeat ?? "");
      if (!stopped && progress.state === "Running" && silentFor > input.staleMs) {
        ctx.log.warn(
          `flow run ${flowRunId} has sent no heartbeat for ${Math.round(silentFor / 1000)} s: its process is gone; stopping its runs`,
        );
        stop();
      }
      for (const taskRun of progress.task_runs) {
        const run = bySlug.get(taskRun.task.slug);
        if (!run || ended.has(run.id)) continue;
        const view = viewTaskRun(taskRun);
        if (view.kind === "running" && !started.has(run.id)) {
          started.set(run.id, run);
          ctx.runStarted(run, { at: view.since });
        } else if (view.kind === "ended") {
          if (!started.has(run.id)) ctx.runStarted(run, { at: view.outcome.startedAt as Date });
          started.set(run.id, run);
          ended.add(run.id);
          ctx.runEnded(run, view.outcome);
        } else if (view.kind === "finished-unreported") {
          unreported.set(run.id, `its task run ended ${view.state} without an outcome: ${view.message}`);
        }
      }
      const finished = isA(progress.state, "Finished");
      const open = [...started.keys()].filter((id) => !ended.has(id));
      const idle = runsInPidDir(input.pidDir) === 0;
      if (finished && idle && open.length === 0) {
        if (!stopped && progress.state !== "Success" && ended.size < input.runs.length) {
          ctx.log.warn(`flow run ${flowRunId} ended ${progress.state}: ${progress.state_message ?? ""}`);
        }
        break;
      }
      // Nothing runs any more: what has not reported by now is in flight or never will be.
      if ((finished || stopped) && idle) settleBy = Math.min(settleBy, Date.now() + IN_FLIGHT_MS);
      if (Date.now() > settleBy) break;
      // A flow run already picked up goes on without the agent; one still waiting needs it.
      if (
        input.agent &&
        !input.agent.check() &&
        input.agent.failure &&
        !stopped &&
        isA(progress.state, "Scheduled")
      ) {
        ctx.log.warn(`${input.agent.failure}: flow run ${flowRunId} cannot start`);
        break;
      }
      if (progress.state !== last) {
        ctx.log.debug(`flow run ${flowRunId}: ${progress.state}`);
        last = progress.state ?? "";
      }
      if (!hinted && progress.state === "Scheduled" && Date.now() - scheduledSince > SCHEDULED_HINT_MS) {
        hinted = true;
        ctx.log.warn(`flow run ${flowRunId} is still Scheduled: is an agent with these labels running?`);
      }
      await Promise.race([woken, sleep(POLL_MS)]);
    }
  } finally {
    unsubscribe?.();
    ctx.signal.removeEventListener("abort", onAbort);
    await stopped;
    for (const [id, run] of started) {
      if (!ended.has(id)) {
        const error = unreported.get(id) ?? "stopped; its end never reached the backend";
        ctx.runEnded(run, { exitCode: null, signal: null, error });
      }
    }
  }
}
