// Drives python/launcher.py, one per batch: streams runs to it and turns its start and
// end messages into the core's run events. Its ready handshake is the environment check.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import type { ExecuteContext, Run } from "@sierra-exec/core";
import {
  CORE_PYTHON_DIR,
  EXECUTION_MARKER,
  OutputTail,
  runSpec,
  SierraError,
  stopProcessGroup,
} from "@sierra-exec/core";

export const LAUNCHER = new URL("../python/launcher.py", import.meta.url).pathname;

export interface LauncherSettings {
  python: string;
  jobs: number;
  /** Seconds between TERM and KILL when runs are stopped. */
  killGrace: number;
  /** Stop at the first failed run, before its slot is refilled. */
  strict: boolean;
  /** Put in every run's environment (EXECUTION_MARKER): core's last sweep finds what runs left. */
  executionId: string;
}

type Event =
  | { started: string; pid: number; at: number }
  | {
      ended: string;
      code: number | null;
      signal: string | null;
      startedAt: number;
      at: number;
      error?: string;
    }
  | { dropped: string[] };

interface Pending {
  run: Run;
  ctx: ExecuteContext<unknown, unknown>;
  pid?: number;
}

export class Launcher {
  private readonly pending = new Map<string, Pending>();
  private drained: (() => void) | undefined;
  private readonly exited: Promise<void>;

  /** What the launcher said last on stderr: quoted when it dies. */
  private readonly stderr = new OutputTail();

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    settings: LauncherSettings,
  ) {
    child.stdin.on("error", () => {});
    child.stderr.setEncoding("utf8").on("data", (text: string) => this.stderr.push(text));
    this.exited = new Promise((resolve) => {
      child.once("error", resolve);
      child.once("close", resolve);
    }).then(() => {
      // A launcher that died on its own leaves its runs without an end: stop them here.
      for (const { pid } of this.pending.values()) {
        if (pid) void stopProcessGroup(pid, { graceMs: settings.killGrace * 1000 });
      }
      this.drained?.();
    });
  }

  /** Starts the launcher and waits for it to be ready; a SierraError if Python is unusable. */
  static async start(settings: LauncherSettings): Promise<Launcher> {
    const { python, jobs, killGrace, strict, executionId } = settings;
    // node:child_process rather than execa (core's spawnGroup): this is every local
    // batch's start-up path, and importing execa costs a CLI start about 0.2 s.
    const env = { ...process.env, [EXECUTION_MARKER]: executionId };
    const child = spawn(
      python,
      ["-S", LAUNCHER, CORE_PYTHON_DIR, String(jobs), String(killGrace), strict ? "strict" : "lenient"],
      { detached: true, stdio: "pipe", env },
    );
    const launcher = new Launcher(child, settings);
    // The runs' environment, exactly: a pyenv shim as `python` changes the launcher's own.
    launcher.send([{ caller: env }]);
    const lines = createInterface({ input: child.stdout });
    const [first] = (await Promise.race([once(lines, "line"), once(lines, "close")])) as [string?];
    if (!first?.startsWith('{"ready"')) {
      await launcher.exited;
      const why = launcher.stderr.lastLine();
      throw new SierraError(
        `the local execenv needs Python 3.9+ (tried ${JSON.stringify(python)}${why ? `: ${why}` : ""}): install python3 or pass --python PATH`,
      );
    }
    lines.on("line", (line) => launcher.receive(JSON.parse(line) as Event));
    return launcher;
  }

  private receive(message: Event): void {
    if ("started" in message) {
      const entry = this.pending.get(message.started);
      if (!entry) return;
      entry.pid = message.pid;
      entry.ctx.runStarted(entry.run, { pid: message.pid, at: new Date(message.at) });
    } else if ("ended" in message) {
      const entry = this.pending.get(message.ended);
      if (!entry) return;
      this.pending.delete(message.ended);
      entry.ctx.runEnded(entry.run, {
        exitCode: message.code,
        signal: message.signal,
        startedAt: new Date(message.startedAt),
        finishedAt: new Date(message.at),
        ...(message.error ? { error: message.error } : {}),
      });
      if (this.pending.size === 0) this.drained?.();
    } else if ("dropped" in message) {
      for (const id of message.dropped) this.pending.delete(id);
      if (this.pending.size === 0) this.drained?.();
    }
  }

  private get gone(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** One line: how the launcher ended and the last line of its stderr. */
  private death(): string {
    const how = this.child.signalCode ? `signal ${this.child.signalCode}` : `status ${this.child.exitCode}`;
    const said = this.stderr.lastLine();
    return `the run launcher exited unexpectedly (${how})${said ? `: ${said}` : ""}`;
  }

  private send(messages: object[]): void {
    this.child.stdin.write(`${messages.map((message) => JSON.stringify(message)).join("\n")}\n`);
  }

  /** Executes `runs`; resolves when each has ended, or been dropped by a stop. */
  async execute(runs: readonly Run[], ctx: ExecuteContext<unknown, unknown>): Promise<void> {
    if (this.gone) throw new Error(this.death());
    for (const run of runs) this.pending.set(run.id, { run, ctx });
    const done = new Promise<void>((resolve) => {
      this.drained = resolve;
    });
    const stop = () => this.send([{ stop: true }]);
    ctx.signal.addEventListener("abort", stop, { once: true });
    this.send(runs.map(runSpec));
    if (ctx.signal.aborted) stop();
    await done;
    ctx.signal.removeEventListener("abort", stop);
    if (this.gone && !ctx.signal.aborted) throw new Error(this.death());
  }

  /** Lets the launcher exit once idle; stops its group if it does not. */
  async close(): Promise<void> {
    this.send([{ quit: true }]);
    const timeout = setTimeout(
      () => void stopProcessGroup(this.child.pid as number, { graceMs: 1000 }),
      5000,
    );
    await this.exited;
    clearTimeout(timeout);
  }
}
