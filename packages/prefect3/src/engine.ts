// The engines of the drain flow runs of a batch on its own server (prefect.localserver): no worker
// polls its pool; each drain flow run the CLI creates is handed to an engine the CLI starts itself
// (python/warm_engine.py: Prefect's own `python -m prefect.engine`, its imports done before the
// flow run exists). The first engine starts beside the server, so that its imports overlap the
// server's boot; one for a later flow run (after a drain died) starts when it is needed. Each is
// in its own process group, in the environment a worker would have given it, its output in the
// batch's engine.log; what a worker did around it (a Crashed state when it dies, a kill on cancel)
// is done here.
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HelperProcess, type Logger } from "@sierra-exec/core";
import type { PrefectClient } from "./api.js";
import { drainStopMs } from "./drains.js";
import type { PrefectServer } from "./server.js";
import { setFlowRunState } from "./states.js";

const WARM_ENGINE = new URL("../python/warm_engine.py", import.meta.url).pathname;
/** At the end, how long an engine whose flow run has ended may take to exit by itself. */
const EXIT_MS = 3000;
/** How long the Crashed state of a dead engine's flow run is tried (a server restart takes a few s). */
const CRASH_REPORT_MS = 30_000;

export interface EngineSettings {
  python: string;
  /** The batch's Prefect directory: engine.log goes there. */
  dir: string;
  /** The runs' kill grace: an engine gets its drain's stopping time (drainStopMs) before KILL. */
  killGrace: number;
  /** Receives each engine at once (the batch's watchdog watches it). */
  onStarted: (engine: HelperProcess) => void;
  log: Logger;
}

export class Engines {
  private server: PrefectServer | undefined;
  private warm: HelperProcess | undefined;
  private readonly byFlowRun = new Map<string, HelperProcess>();

  constructor(private readonly settings: EngineSettings) {}

  get log(): string {
    return path.join(this.settings.dir, "engine.log");
  }

  /** Starts an engine for `server` that imports Prefect and waits for its flow run. */
  async warmUp(server: PrefectServer): Promise<void> {
    this.server = server;
    await this.warm?.stop();
    this.warm = await this.spawn();
  }

  /**
   * Runs flow run `id` on the waiting engine, or on a new one if none waits or it died. An engine
   * that dies before its flow run ends reports the flow run Crashed, as a worker would.
   */
  async run(id: string, client: PrefectClient): Promise<void> {
    let engine = this.warm;
    this.warm = undefined;
    if (!engine?.send(id)) {
      if (engine) this.settings.log.warn(`${engine.describeExit()}: starting another for flow run ${id}`);
      engine = await this.spawn();
      engine.send(id);
    }
    this.byFlowRun.set(id, engine);
    const started = engine;
    void started.exited.then(async () => {
      if (started.stopping || (started.exitCode === 0 && !started.exitSignal)) return;
      // Not forced: the server refuses it once the flow run is final. Said again until the server
      // answers (it may be restarting): a flow run left Scheduled would hold back a new drain.
      const deadline = Date.now() + CRASH_REPORT_MS;
      while (Date.now() < deadline) {
        const answer = await setFlowRunState(
          client,
          id,
          "CRASHED",
          `sierra: ${started.describeExit()}`,
        ).catch(() => undefined);
        if (answer && answer.response.status < 500) return;
        await sleep(500);
      }
    });
  }

  private get graceMs(): number {
    return drainStopMs(this.settings.killGrace);
  }

  /**
   * Stops the engine of flow run `id` (TERM: the drain stops its runs; KILL after its stopping
   * time); resolves once it is gone. False if this batch has no engine for it.
   */
  async stop(id: string): Promise<boolean> {
    const engine = this.byFlowRun.get(id);
    if (!engine) return false;
    await engine.stop({ graceMs: this.graceMs });
    return true;
  }

  /** At the end: the waiting engine goes; those whose flow runs ended get a moment to exit. */
  async stopAll(): Promise<void> {
    const engines = [...this.byFlowRun.values()];
    await Promise.all([
      this.warm?.stop(),
      ...engines.map(async (engine) => {
        await Promise.race([engine.exited, sleep(EXIT_MS)]);
        await engine.stop({ graceMs: this.graceMs });
      }),
    ]);
  }

  private async spawn(): Promise<HelperProcess> {
    const { server } = this;
    if (!server) throw new Error("Engines.warmUp must come first");
    const engine = await HelperProcess.start(
      "the Prefect engine",
      this.settings.python,
      [WARM_ENGINE, "-m", "prefect.engine"],
      // In the batch's Prefect directory, not the CLI's: the pull step moves it to the flow's.
      { env: server.envFor("engine"), logFile: this.log, input: true, cwd: this.settings.dir },
    );
    this.settings.onStarted(engine);
    return engine;
  }
}
