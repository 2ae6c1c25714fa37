// Drives python/watchdog.py: a small process that stops what an execenv started in process
// groups of its own (servers, workers, agents), and whatever carries the batch's marker
// (SIERRA_EXEC_ID), if the CLI dies without its own clean-up (kill -9, out of memory);
// before that, it runs the commands it was given for that case (cancelling cluster jobs).
import path from "node:path";
import { spawnGroup } from "./process-group.js";
import { CORE_PYTHON_DIR } from "./python-runs.js";

const WATCHDOG = path.join(CORE_PYTHON_DIR, "watchdog.py");

export class Watchdog {
  private constructor(private readonly child: Awaited<ReturnType<typeof spawnGroup>>["child"]) {
    child.stdin?.on("error", () => {});
  }

  /** `python` is any Python 3; `executionId` the marker its processes carry in SIERRA_EXEC_ID. */
  static async start(python: string, executionId: string, graceSeconds: number): Promise<Watchdog> {
    const { child } = await spawnGroup(python, [WATCHDOG, executionId, String(graceSeconds)], {
      stdin: "pipe",
      stdout: "ignore",
      stderr: "ignore",
      buffer: false,
    });
    return new Watchdog(child);
  }

  /** Adds a process group to stop if the CLI dies; the last added is stopped first. */
  watch(pgid: number): void {
    this.child.stdin?.write(`group ${pgid}\n`);
  }

  /**
   * Adds a command to run if the CLI dies, before the groups are stopped (e.g. `scancel`
   * of the jobs a batch submitted to a cluster); the last added runs first.
   */
  runOnDeath(argv: readonly string[]): void {
    this.child.stdin?.write(`exec ${JSON.stringify(argv)}\n`);
  }

  /** The CLI has cleaned up: the watchdog exits without doing anything. */
  async dismiss(): Promise<void> {
    this.child.stdin?.end("dismiss\n");
    await this.child;
  }
}
