// When prefect.server creates drains ("Spreading" in DRAIN.md): the DrainBackend.ensureDrains
// hook of @sierra-exec/prefect3. It never makes the follower wait for the server: the pool's
// online workers are read every 2 s and drains are created in the background, one request at a
// time (a server swamped by a large batch's task runs may take many seconds to answer, and the
// runs' records must not wait for it). A creation that fails is tried again at a later poll:
// the drains there are carry the batch meanwhile, and the pickup timeout ends it if none comes.
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@sierra-exec/core";
import type { DrainsView } from "@sierra-exec/prefect3";
import { drainsToCreate } from "./decisions.js";
import type { SharedServer } from "./shared-server.js";

const WORKERS_EVERY_MS = 2000;
/**
 * After a bounce, a new drain waits a random moment before it is created: the worker that wins a
 * flow run is the first to poll after its creation, and a creation timed by the last bounce
 * tends to fall at the same phase of the workers' polls, so the same served host kept winning.
 */
const AFTER_BOUNCE_JITTER_MS = 1000;

export class Spreading {
  private onlineWorkers: number | undefined;
  private readAt = 0;
  private reading: Promise<void> | undefined;
  /** Drains still to create from the last decision; the requests under way. */
  private queued = 0;
  private creating: Promise<void> | undefined;

  constructor(
    private readonly server: SharedServer,
    private readonly settings: { pool: string; jobs: number; totalJobs: number; log: Logger },
  ) {}

  async ensureDrains(view: DrainsView, create: () => Promise<unknown>): Promise<void> {
    if (this.onlineWorkers === undefined) await this.readWorkers();
    else if (!this.reading && Date.now() - this.readAt > WORKERS_EVERY_MS) {
      this.reading = this.readWorkers().finally(() => {
        this.reading = undefined;
      });
    }
    if (!this.creating) {
      this.queued = drainsToCreate({
        onlineWorkers: this.onlineWorkers ?? 0,
        liveDrains: view.live.length,
        servedHosts: view.servedHosts.size,
        pendingDrains: view.pending,
        unclaimedRuns: view.unstarted,
        bounces: view.bounces,
        created: view.created,
        jobs: this.settings.jobs,
        totalJobs: this.settings.totalJobs,
      });
      if (this.queued > 0) {
        this.creating = this.createQueued(create, view.bounces > 0).finally(() => {
          this.creating = undefined;
        });
      }
    }
    // No drain left nor coming: the follower takes that as the batch's end unless one is being
    // created, so that one is waited for (nothing runs meanwhile anyway).
    if (view.created > 0 && view.live.length === 0 && view.pending === 0) await this.creating;
  }

  private async createQueued(create: () => Promise<unknown>, afterBounce: boolean): Promise<void> {
    try {
      for (; this.queued > 0; this.queued--) {
        if (afterBounce) await sleep(Math.random() * AFTER_BOUNCE_JITTER_MS);
        await create();
      }
    } catch (error) {
      this.settings.log.debug(`creating a drain: ${(error as Error).message}; trying again later`);
    } finally {
      this.queued = 0;
    }
  }

  private async readWorkers(): Promise<void> {
    const { pool, log } = this.settings;
    this.readAt = Date.now();
    try {
      this.onlineWorkers = (await this.server.onlineWorkers(pool)).length;
    } catch (error) {
      // A busy server answers later; the drains' own events carry the batch meanwhile.
      this.onlineWorkers ??= 0;
      log.debug(`reading the online workers of pool ${pool}: ${(error as Error).message}`);
    }
  }
}
