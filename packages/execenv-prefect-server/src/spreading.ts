// When prefect.server creates drains ("Spreading" in DRAIN.md): the DrainBackend.ensureDrains
// hook of @sierra-exec/prefect3, fed with the pool's online workers (read in the background,
// every 2 s: the follower's poll must not wait for the server).
import type { Logger } from "@sierra-exec/core";
import type { DrainsView } from "@sierra-exec/prefect3";
import { drainsToCreate } from "./decisions.js";
import type { SharedServer } from "./shared-server.js";

const WORKERS_EVERY_MS = 2000;

export class Spreading {
  private onlineWorkers: number | undefined;
  private readAt = 0;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly server: SharedServer,
    private readonly pool: string,
    private readonly log: Logger,
  ) {}

  async ensureDrains(view: DrainsView, create: () => Promise<void>): Promise<void> {
    if (this.onlineWorkers === undefined) await this.readWorkers();
    else if (!this.reading && Date.now() - this.readAt > WORKERS_EVERY_MS) {
      this.reading = this.readWorkers().finally(() => {
        this.reading = undefined;
      });
    }
    const count = drainsToCreate({
      onlineWorkers: this.onlineWorkers ?? 0,
      liveDrains: view.live.length,
      servedHosts: view.servedHosts.size,
      pendingDrains: view.pending,
      unclaimedRuns: view.unstarted,
      bounces: view.bounces,
      created: view.created,
    });
    for (let i = 0; i < count; i++) await create();
  }

  private async readWorkers(): Promise<void> {
    this.readAt = Date.now();
    try {
      this.onlineWorkers = (await this.server.onlineWorkers(this.pool)).length;
    } catch (error) {
      // A busy server answers later; the drains' own events carry the batch meanwhile.
      this.onlineWorkers ??= 0;
      this.log.debug(`reading the online workers of pool ${this.pool}: ${(error as Error).message}`);
    }
  }
}
