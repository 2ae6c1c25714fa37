// Executes an execution's sets of runs on drains (python/drain.py: flow runs of the flow
// `sierra`, each serving one host) and follows them: writes each set to the work directory,
// records run starts and ends from the drains' events files (exact pids, exit statuses, times
// and hosts), declares drains that fall silent dead and re-queues their runs, and steers the
// drains with `stop` and `done`. How many drain flow runs exist, and when, is the execenv's
// call (DrainBackend.ensureDrains).
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { ExecuteContext, Logger, Run, StopReason } from "@sierra-exec/core";
import { type FlowRun, must, type PrefectClient } from "./api.js";
import { type DrainEvent, EventsFollower, outcomeOf } from "./drain-events.js";
import { describeState, isTerminal, STATE_NAMES, setFlowRunState } from "./states.js";
import { WorkDir } from "./work-dir.js";

export interface DrainInfo {
  id: string;
  host: string;
  /** The engine's pid on its host. */
  pid: number;
  flowRun?: string;
  /** live: serving; bounced: its host had a drain; gone: said bye; dead: declared dead by the CLI. */
  state: "live" | "bounced" | "gone" | "dead";
  /** When its events file last grew, on the CLI's clock. */
  seenAt: number;
}

/** What the CLI knows of the drains, for DrainBackend.ensureDrains. */
export interface DrainsView {
  /** Drains that said hello and serve. */
  live: readonly DrainInfo[];
  servedHosts: ReadonlySet<string>;
  /** Drain flow runs created that have neither said hello nor ended. */
  pending: number;
  /** Drain flow runs created so far. */
  created: number;
  /** Drains that found their host served. */
  bounces: number;
  /** Runs of the current set that no drain has started. */
  unstarted: number;
}

export interface DrainBackend {
  client: PrefectClient;
  deploymentId: string;
  uiUrl: string;
  /** Why the batch's own helpers can serve no more (a server that died for good), if so. */
  failure(): string | undefined;
  /** False while the API cannot be used (a helper of the batch is being restarted). */
  serving(): boolean;
  /**
   * Creates drains as the execenv sees fit, called on each poll; `create` makes one drain flow run
   * and gives its id.
   */
  ensureDrains(view: DrainsView, create: () => Promise<string>): Promise<void>;
  /**
   * Stops the engine of a flow run being cancelled, when the execenv runs the engines itself (no
   * worker does it); resolves once it is gone, false if it has none for that flow run.
   */
  stopEngine?(flowRunId: string): Promise<boolean>;
  /** Unstarted runs fail with `error` once no drain has served for `seconds`. */
  pickup: { seconds: number; error: string };
}

export interface DrainSettings {
  /** The execution's work directory (see work-dir.ts). */
  workDir: string;
  executionId: string;
  /** Runs at once per drain host. */
  jobs: number;
  /** Runs at once over every drain; 0: no cap. */
  totalJobs: number;
  /** Seconds between TERM and KILL when runs are stopped. */
  killGrace: number;
  strict: boolean;
  /** A drain whose events file stays silent this many seconds is dead (it heartbeats every 2 s). */
  drainTimeout: number;
  log: Logger;
}

/** The flow's parameters (see python/flow.py). */
export const drainParameters = (settings: Omit<DrainSettings, "log" | "drainTimeout">) => ({
  work_dir: settings.workDir,
  jobs: settings.jobs,
  kill_grace_s: settings.killGrace,
  strict: settings.strict,
  total_jobs: settings.totalJobs,
  execution_id: settings.executionId,
});

/**
 * How long drains may take to stop their runs and write the ends (the kill grace, then 5 s for
 * the ends and the engine's exit): the CLI waits this long for stopped runs' ends, and gives an
 * engine of its own this long between TERM and KILL.
 */
export const drainStopMs = (killGrace: number) => (killGrace + 5) * 1000;

const POLL_MS = 50;
/** How often the drain flow runs' states are read; at the end, once `done` is written, more often. */
const STATES_EVERY_MS = 1000;
const STATES_AT_END_MS = 200;
/** After a cancel: force CANCELLED once the engine is gone (a run cancelled while its engine booted). */
const FORCE_AFTER_MS = 5000;
/** At the end, how long drains' flow runs may take to end after `done`. */
const SETTLE_MS = 30_000;

/** `"1234"` or `"host:1234"` (Prefect's infrastructure_pid): is that engine alive, if it is on this host? */
function engineAlive(infrastructurePid: string | null | undefined): boolean | undefined {
  const match = /^(?:(.*):)?(\d+)$/.exec(infrastructurePid ?? "");
  if (!match) return false;
  if (match[1] && match[1] !== hostname()) return undefined;
  try {
    process.kill(Number(match[2]), 0);
    return true;
  } catch {
    return false;
  }
}

interface CreatedFlowRun {
  id: string;
  name: string;
  createdAt: number;
  flowRun?: FlowRun;
  cancelledAt?: number;
}

interface OpenSet {
  n: number;
  runs: readonly Run[];
  unended: Set<number>;
  /** Index -> the drain that started it. */
  startedBy: Map<number, string>;
  ctx: ExecuteContext<unknown, unknown>;
}

export class Drains {
  private readonly work: WorkDir;
  private readonly follower: EventsFollower;
  private readonly drains = new Map<string, DrainInfo>();
  private readonly flowRuns: CreatedFlowRun[] = [];
  private sets = 0;
  private current: OpenSet | undefined;
  private stopWritten = false;
  private reading: Promise<void> | undefined;
  private readAt = 0;
  private idleSince: number | undefined;
  private statesEvery = STATES_EVERY_MS;
  private anyStarted = false;
  /** Runs dead drains started, re-queued once the drain, if alive, has stopped them. */
  private requeues: Array<{ drain: string; open: OpenSet; indices: ReadonlySet<number>; at: number }> = [];

  constructor(
    private readonly backend: DrainBackend,
    private readonly settings: DrainSettings,
  ) {
    this.work = new WorkDir(settings.workDir);
    this.follower = new EventsFollower(this.work.events, (line) => settings.log.warn(line));
  }

  /** Every drain the CLI has heard of. */
  get known(): readonly DrainInfo[] {
    return [...this.drains.values()];
  }

  view(): DrainsView {
    const live = this.known.filter((drain) => drain.state === "live");
    const said = new Set(this.known.map((drain) => drain.flowRun));
    const open = this.current;
    return {
      live,
      servedHosts: new Set(live.map((drain) => drain.host)),
      pending: this.flowRuns.filter((run) => !said.has(run.id) && !isTerminal(run.flowRun?.state_type))
        .length,
      created: this.flowRuns.length,
      bounces: this.known.filter((drain) => drain.state === "bounced").length,
      unstarted: open ? [...open.unended].filter((index) => !open.startedBy.has(index)).length : 0,
    };
  }

  /** Creates one drain flow run, named `<execution id>/<k>` and tagged with the execution id. */
  async create(): Promise<string> {
    const k = this.flowRuns.length + 1;
    const name = `${this.settings.executionId}/${k}`;
    const created = must(
      await this.backend.client.POST("/deployments/{id}/create_flow_run", {
        params: { path: { id: this.backend.deploymentId } },
        body: {
          name,
          parameters: drainParameters(this.settings),
          tags: ["sierra", this.settings.executionId],
          // The key makes a retried request (after a 503) return the same flow run.
          idempotency_key: `${this.settings.executionId}-${k}`,
        },
      }),
      "creating a drain flow run",
    );
    this.flowRuns.push({ id: created.id, name, createdAt: Date.now() });
    this.settings.log.info(`flow run ${name}: ${this.backend.uiUrl}/runs/flow-run/${created.id}`);
    return created.id;
  }

  /**
   * Executes a set of runs (the whole selection, or one experiment's): returns once every run
   * has an end, or, on a stop, once the stopped runs' ends are in.
   */
  async executeSet(runs: readonly Run[], ctx: ExecuteContext<unknown, unknown>): Promise<void> {
    if (this.backend.failure()) return;
    const n = ++this.sets;
    const open: OpenSet = {
      n,
      runs,
      unended: new Set(runs.map((_, index) => index)),
      startedBy: new Map(),
      ctx,
    };
    this.current = open;
    this.work.writeSet(n, runs);
    ctx.log.debug(`set ${n}: ${runs.length} runs`);
    this.idleSince = undefined;
    while (open.unended.size > 0) {
      this.poll();
      if (open.unended.size === 0) break;
      const failure = this.backend.failure();
      if (failure) {
        await this.stop(failure);
        ctx.log.warn(`${failure}: ${open.unended.size} runs did not run to their end`);
        return;
      }
      if (ctx.signal.aborted) {
        const reason = ctx.signal.reason as StopReason | undefined;
        await this.stop(reason?.kind ?? "stopped");
        return;
      }
      const consulted = this.backend.serving();
      if (consulted) await this.backend.ensureDrains(this.view(), () => this.create());
      this.failUnserved(open, consulted);
      await sleep(POLL_MS);
    }
  }

  /**
   * Runs that no drain will take end as failed: none is live or coming although the execenv was
   * just asked for drains (`consulted`), or none has been live for the pickup time.
   */
  private failUnserved(open: OpenSet, consulted: boolean): void {
    const view = this.view();
    if (view.live.length > 0 || view.unstarted === 0) {
      this.idleSince = undefined;
      return;
    }
    this.idleSince ??= Date.now();
    const lost = consulted && view.pending === 0 && this.flowRuns.length > 0;
    if (!lost && Date.now() - this.idleSince < this.backend.pickup.seconds * 1000) return;
    const last = this.flowRuns.at(-1)?.flowRun;
    const error = lost
      ? `no drain left to run it (the last drain flow run: ${last ? describeState(last) : "never started"})`
      : this.backend.pickup.error;
    for (const index of [...open.unended]) {
      if (open.startedBy.has(index) || !this.work.withhold(open.n, index)) continue;
      open.unended.delete(index);
      open.ctx.runEnded(open.runs[index] as Run, { exitCode: null, signal: null, error });
    }
  }

  /** Reads new events, notices dead drains, refreshes the drain flow runs' states. */
  private poll(): void {
    const now = Date.now();
    const read = this.follower.read();
    for (const { file } of read) {
      const known = this.drains.get(file);
      if (known) known.seenAt = now;
    }
    // Ends of runs a drain stopped come after every other event read: under strict, core must
    // see the run that failed before the runs stopped because of it, whichever file is read first.
    const stopped: Array<[string, DrainEvent]> = [];
    for (const { file, events } of read) {
      for (const event of events) {
        if ("ended" in event && event.stopped) stopped.push([file, event]);
        else this.dispatch(file, event, now);
      }
    }
    for (const [file, event] of stopped) this.dispatch(file, event, now);
    for (const drain of this.drains.values()) {
      if (drain.state !== "live") continue;
      const flowRun = this.flowRuns.find((run) => run.id === drain.flowRun)?.flowRun;
      if (isTerminal(flowRun?.state_type)) {
        this.declareDead(drain, `ended (${describeState(flowRun as FlowRun)}) without saying bye`);
      } else if (now - drain.seenAt > this.settings.drainTimeout * 1000) {
        this.declareDead(drain, `wrote nothing for ${this.settings.drainTimeout}s`);
      }
    }
    this.requeueStopped(now);
    if (!this.reading && now - this.readAt > this.statesEvery && this.backend.serving()) this.readStates();
  }

  private requeueStopped(now: number): void {
    const due = this.requeues.filter((requeue) => requeue.at <= now);
    if (due.length === 0) return;
    this.requeues = this.requeues.filter((requeue) => requeue.at > now);
    for (const { drain, open, indices } of due) {
      if (this.stopWritten || open !== this.current) continue;
      for (const index of this.work.requeue(drain, open.n, indices)) open.startedBy.delete(index);
    }
  }

  private dispatch(file: string, event: DrainEvent, now: number): void {
    if ("drain" in event) {
      this.drains.set(file, {
        id: event.drain,
        host: event.host,
        pid: event.pid,
        ...(event.flowRun ? { flowRun: event.flowRun } : {}),
        state: "live",
        seenAt: now,
      });
      return;
    }
    const drain = this.drains.get(file);
    if (!drain || drain.state === "dead") return; // a dead drain's runs are re-queued
    if ("bounced" in event) drain.state = "bounced";
    else if ("bye" in event) drain.state = "gone";
    const open = this.current;
    if (!open) return;
    if ("started" in event && event.set === open.n && open.unended.has(event.index)) {
      const createdAt = this.flowRuns.find((run) => run.id === drain.flowRun)?.createdAt;
      if (!this.anyStarted && createdAt !== undefined) {
        const pickup = (event.at * 1000 - createdAt) / 1000;
        open.ctx.log.debug(`first run started ${pickup.toFixed(2)}s after the flow run was created`);
      }
      this.anyStarted = true;
      open.startedBy.set(event.index, drain.id);
      open.ctx.runStarted(open.runs[event.index] as Run, {
        pid: event.pid,
        at: new Date(Math.round(event.at * 1000)),
      });
    } else if ("ended" in event && event.set === open.n && open.unended.delete(event.index)) {
      open.ctx.runEnded(open.runs[event.index] as Run, outcomeOf(event, drain.host));
    }
  }

  /**
   * A drain that is gone without its ends: its runs go back to the queue, its flow run is
   * Crashed. Runs it claimed without starting them go at once; runs it started only once a drain
   * that is in fact alive has stopped them (`dead` makes it TERM them, KILL after the grace), so
   * that a second copy never overlaps the first.
   */
  private declareDead(drain: DrainInfo, why: string): void {
    drain.state = "dead";
    this.work.declareDead(drain.id, drain.host);
    const open = this.current;
    const started = new Set<number>();
    let requeued: number[] = [];
    if (open) {
      for (const [index, by] of open.startedBy)
        if (by === drain.id && open.unended.has(index)) started.add(index);
      const unstarted = new Set([...open.unended].filter((index) => !started.has(index)));
      requeued = this.work.requeue(drain.id, open.n, unstarted);
      if (started.size > 0) {
        this.requeues.push({
          drain: drain.id,
          open,
          indices: started,
          at: Date.now() + (this.settings.killGrace + 1) * 1000,
        });
      }
    }
    const lost = [...requeued, ...started].sort((a, b) => a - b);
    const runs = lost.map((index) => open?.runs[index]?.id).join(", ");
    this.settings.log.warn(
      `drain ${drain.id} on host ${drain.host} ${why}: declared dead` +
        (lost.length > 0 ? `; its runs ${runs} go to another drain` : ""),
    );
    const flowRun = drain.flowRun;
    if (flowRun && this.backend.serving()) {
      setFlowRunState(
        this.backend.client,
        flowRun,
        "CRASHED",
        `sierra: drain on host ${drain.host} ${why}`,
        true,
      ).catch(() => {});
    }
  }

  /** The drain flow runs' states, read in the background: a busy server may answer late. */
  private readStates(): void {
    this.readAt = Date.now();
    const unread = this.flowRuns.filter((run) => !isTerminal(run.flowRun?.state_type));
    if (unread.length === 0) return;
    this.reading = (async () => {
      try {
        for (const run of unread) {
          const answer = await this.backend.client.GET("/flow_runs/{id}", {
            params: { path: { id: run.id } },
          });
          if (answer.data) run.flowRun = answer.data;
        }
      } catch {
        // A server that died is noticed by its process; one that is only slow answers later.
      } finally {
        this.reading = undefined;
      }
    })();
  }

  /**
   * Stops every drain: `stop` (they start no run, stop theirs and write the ends), the ends
   * waited for, then a cancel of the drain flow runs that did not end.
   */
  private async stop(reason: string): Promise<void> {
    if (!this.stopWritten) this.work.writeStop(reason);
    this.stopWritten = true;
    const open = this.current;
    // Runs of dead drains (their re-queue pending) write no end: they stay "not run".
    const ofLive = (index: number) =>
      open?.unended.has(index) && this.drains.get(open.startedBy.get(index) as string)?.state !== "dead";
    const running = () => (open ? [...open.startedBy.keys()].filter(ofLive).length : 0);
    const deadline = Date.now() + drainStopMs(this.settings.killGrace);
    while ((running() > 0 || this.view().live.length > 0) && Date.now() < deadline) {
      this.poll();
      await sleep(POLL_MS);
    }
    this.poll();
    if (open) {
      for (const index of [...open.startedBy.keys()]) {
        if (!ofLive(index) || !open.unended.delete(index)) continue;
        const drain = this.drains.get(open.startedBy.get(index) as string);
        open.ctx.runEnded(open.runs[index] as Run, {
          exitCode: null,
          signal: null,
          error: `drain ${open.startedBy.get(index)} wrote no end for it`,
          ...(drain ? { host: drain.host } : {}),
        });
      }
    }
    if (!this.backend.failure()) await this.cancel();
  }

  /** Cancels the drain flow runs that have not ended (CANCELLED by force once their engine is gone). */
  private async cancel(): Promise<void> {
    const deadline = Date.now() + FORCE_AFTER_MS + 5000;
    for (;;) {
      await this.reading;
      this.readStates();
      await this.reading;
      const open = this.flowRuns.filter((run) => !isTerminal(run.flowRun?.state_type));
      if (open.length === 0 || Date.now() > deadline || !this.backend.serving()) return;
      for (const run of open) {
        const said = this.known.find((drain) => drain.flowRun === run.id);
        if (run.cancelledAt === undefined) {
          run.cancelledAt = Date.now();
          const answer = await this.setState(run, "CANCELLING", false);
          // Refused: the flow run ended meanwhile, and its engine ends by itself; its end stays.
          if (answer?.status !== "ACCEPT") continue;
          // An engine of the execenv's own: its drain stops its runs at the TERM; then a flow run
          // left Cancelling is Cancelled, whatever the engine said on its way out. (One that was
          // still Scheduled went straight to Cancelled.)
          const stopped = await this.backend.stopEngine?.(run.id);
          if (stopped && answer.state?.type === "CANCELLING") await this.setState(run, "CANCELLED", true);
        } else if (
          Date.now() - run.cancelledAt > FORCE_AFTER_MS &&
          (said?.state === "gone" || said?.state === "dead" || !engineAlive(run.flowRun?.infrastructure_pid))
        ) {
          await this.setState(run, "CANCELLED", true);
        }
      }
      await sleep(250);
    }
  }

  private async setState(run: CreatedFlowRun, type: "CANCELLING" | "CANCELLED", force: boolean) {
    const answer = await setFlowRunState(this.backend.client, run.id, type, "stopped by sierra", force);
    this.settings.log.debug(
      `${STATE_NAMES[type]} flow run ${run.name}: ${JSON.stringify(answer.data?.status ?? answer.error)}`,
    );
    return answer.data;
  }

  /**
   * At the end of the execution: `done` (drains finish and return), their flow runs' ends
   * waited for and logged; those that do not end are cancelled.
   */
  async finish(): Promise<void> {
    try {
      if (this.stopWritten || this.backend.failure()) return;
      this.work.writeDone();
      this.statesEvery = STATES_AT_END_MS;
      let deadline = Date.now() + SETTLE_MS;
      for (;;) {
        if (this.backend.failure()) return;
        this.poll();
        const serving = this.backend.serving();
        if (serving && this.flowRuns.every((run) => isTerminal(run.flowRun?.state_type))) break;
        // A server being started again (it may take a while on a busy machine) is waited for.
        if (!serving) deadline = Math.max(deadline, Date.now() + SETTLE_MS);
        if (Date.now() > deadline) break;
        await sleep(POLL_MS);
      }
      await this.reading;
      for (const run of this.flowRuns) {
        if (run.flowRun) this.settings.log.info(`flow run ${run.name}: ${describeState(run.flowRun)}`);
      }
      if (this.backend.serving()) await this.cancel();
    } finally {
      this.follower.close();
    }
  }
}
