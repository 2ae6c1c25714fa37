// Drives python/watchdog.py: a small process that stops the batch's server and worker (and
// whatever carries the batch's marker) if the CLI dies without its own clean-up (kill -9).
import { spawnGroup } from "@sierra-exec/core";

export const WATCHDOG = new URL("../python/watchdog.py", import.meta.url).pathname;

export class Watchdog {
  private constructor(private readonly child: Awaited<ReturnType<typeof spawnGroup>>["child"]) {
    child.stdin?.on("error", () => {});
  }

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

  /** The CLI has cleaned up: the watchdog exits without doing anything. */
  async dismiss(): Promise<void> {
    this.child.stdin?.end("dismiss\n");
    await this.child;
  }
}
