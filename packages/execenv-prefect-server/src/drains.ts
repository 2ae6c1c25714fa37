// How drains come to be on a shared server ("Spreading" in DRAIN.md): flow runs of the batch's
// deployment, one per online worker at first, more while runs wait and hosts are unserved.
// Keeps the ids of the flow runs it created (the only ones the batch ever cancels) and
// watches their states, to tell drains on their way from drains that never came.
import type { Logger } from "@sierra-exec/core";
import { type FlowRun, isTerminal, must } from "@sierra-exec/prefect3";
import { type DrainCensus, drainName, drainsToCreate, flowRunTags } from "./decisions.js";
import type { SharedServer } from "./shared-server.js";

/** How often the pool's online workers and the drains' flow-run states are read. */
const REFRESH_MS = 2000;

/** What the follower tells about the drains it has heard from. */
export type FollowerView = Omit<DrainCensus, "onlineWorkers" | "pendingDrains" | "created">;

export class ServerDrains {
  /** Flow runs this batch created, by id, with their last state read. */
  readonly flowRuns = new Map<string, Pick<FlowRun, "state_type" | "state" | "name">>();
  private onlineWorkers = 0;
  private refreshedAt = 0;
  private refreshing: Promise<void> | undefined;
  private warned = new Set<string>();

  constructor(
    private readonly server: SharedServer,
    private readonly settings: {
      deploymentId: string;
      executionId: string;
      pool: string;
      parameters: Record<string, unknown>;
      log: Logger;
    },
  ) {}

  /** Flow runs neither ended nor running: waiting for a worker to take them. */
  private waiting(): number {
    let count = 0;
    for (const run of this.flowRuns.values()) {
      if (!isTerminal(run.state_type) && run.state_type !== "RUNNING") count++;
    }
    return count;
  }

  /** Creates the drains the census asks for; reads workers and states in the background. */
  async ensure(view: FollowerView): Promise<void> {
    if (this.flowRuns.size === 0) await this.refresh();
    else if (!this.refreshing && Date.now() - this.refreshedAt > REFRESH_MS) {
      this.refreshing = this.refresh().finally(() => {
        this.refreshing = undefined;
      });
    }
    const count = drainsToCreate({
      ...view,
      onlineWorkers: this.onlineWorkers,
      pendingDrains: this.waiting(),
      created: this.flowRuns.size,
    });
    for (let i = 0; i < count; i++) await this.create();
  }

  private async create(): Promise<void> {
    const { deploymentId, executionId, parameters, log } = this.settings;
    const k = this.flowRuns.size + 1;
    const name = drainName(executionId, k);
    const created = must(
      await this.server.client.POST("/deployments/{id}/create_flow_run", {
        params: { path: { id: deploymentId } },
        // The key makes a retried request (after a 503) return the same flow run.
        body: { name, parameters, tags: flowRunTags(executionId), idempotency_key: `${executionId}-${k}` },
      }),
      "creating a flow run",
    );
    this.flowRuns.set(created.id, created);
    log.debug(`drain ${name}: ${this.server.flowRunUrl(created.id)}`);
  }

  private async refresh(): Promise<void> {
    const { pool, log } = this.settings;
    this.refreshedAt = Date.now();
    try {
      this.onlineWorkers = (await this.server.onlineWorkers(pool)).length;
      for (const [id, known] of this.flowRuns) {
        if (isTerminal(known.state_type)) continue;
        const answer = await this.server.client.GET("/flow_runs/{id}", { params: { path: { id } } });
        const flowRun = must(answer, "reading a drain's flow run");
        this.flowRuns.set(id, flowRun);
        if (flowRun.state_type === "CRASHED" && !this.warned.has(id)) {
          this.warned.add(id);
          log.warn(`drain ${flowRun.name} crashed: ${flowRun.state?.message ?? "no message"}`);
        }
      }
    } catch (error) {
      // A busy server answers later; the drains' own events carry the batch meanwhile.
      log.debug(`reading the pool's workers and the drains' states: ${(error as Error).message}`);
    }
  }
}
