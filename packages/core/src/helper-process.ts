// A long-lived helper process of an execenv (run launcher, server, worker, agent): the leader
// of its own process group, its output appended to a log file or read line by line, and the
// tail of that output kept, so that its death is told in one line quoting what it said last.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "./exec-env.js";
import { spawnGroup, stopProcessGroup } from "./process-group.js";

/** How much of a helper's output is kept for its last words. */
const TAIL_CHARS = 8192;
/** Error lines stay readable: a longer last line is cut (the full text is in the log). */
const LINE_CHARS = 300;

/** The last non-blank line of `text`, trimmed and cut to a few hundred characters. */
export function lastLine(text: string, max = LINE_CHARS): string {
  const line =
    text
      .split("\n")
      .map((part) => part.trim())
      .filter(Boolean)
      .at(-1) ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Keeps the last few kilobytes written to it (a helper's stderr). */
export class OutputTail {
  private text = "";

  push(chunk: string | Buffer): void {
    this.text = (this.text + chunk.toString()).slice(-TAIL_CHARS);
  }

  /** The last non-blank line, as `lastLine`. */
  lastLine(): string {
    return lastLine(this.text);
  }
}

/** The last few kilobytes of `file` ("" if it cannot be read). */
export function fileTail(file: string, bytes = TAIL_CHARS): string {
  try {
    const fd = openSync(file, "r");
    try {
      const size = fstatSync(fd).size;
      const buffer = Buffer.alloc(Math.min(bytes, size));
      readSync(fd, buffer, 0, buffer.length, size - buffer.length);
      return buffer.toString("utf8");
    } finally {
      closeSync(fd);
    }
  } catch {
    return "";
  }
}

export interface HelperProcessOptions {
  env: Record<string, string>;
  cwd?: string;
  /** Append stdout and stderr to this file (kept for the user); else they are read by line. */
  logFile?: string;
  /** Each line of output, when there is no log file. */
  onLine?: (line: string) => void;
  /** Keep its stdin a pipe, for one message (`send`); else it reads nothing. */
  input?: boolean;
}

export class HelperProcess {
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<void>;
  exitCode: number | null | undefined;
  exitSignal: string | null | undefined;
  private readonly tail = new OutputTail();
  private stopRequested = false;

  private constructor(
    /** What it is, for messages: `the Prefect server`. */
    readonly what: string,
    private readonly child: Awaited<ReturnType<typeof spawnGroup>>["child"],
    readonly logFile: string | undefined,
    onLine: ((line: string) => void) | undefined,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => {
        this.tail.push(`${line}\n`);
        onLine?.(line);
      });
    }
    this.exited = child.then((result: { exitCode?: number; signal?: string }) => {
      this.exitCode = result.exitCode ?? null;
      this.exitSignal = result.signal ?? null;
    });
  }

  /** Starts `file args` with exactly `env` (nothing of the caller's added). */
  static async start(
    what: string,
    file: string,
    args: readonly string[],
    options: HelperProcessOptions,
  ): Promise<HelperProcess> {
    const output = options.logFile ? { file: options.logFile, append: true } : "pipe";
    const { child } = await spawnGroup(file, args, {
      env: options.env,
      extendEnv: false,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdin: options.input ? "pipe" : "ignore",
      stdout: output,
      stderr: output,
      buffer: false,
    });
    return new HelperProcess(what, child, options.logFile, options.onLine);
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /**
   * Writes `line` and closes its stdin (started with `input`); false if it had exited or its
   * stdin was closed already.
   */
  send(line: string): boolean {
    const stdin = this.child.stdin;
    if (!this.running || !stdin || stdin.writableEnded) return false;
    stdin.on("error", () => {}); // it died just now: its exit tells
    stdin.end(`${line}\n`);
    return true;
  }

  /** True once `stop` was called: its exit is then expected. */
  get stopping(): boolean {
    return this.stopRequested;
  }

  /** The last line it printed, cut to a few hundred characters. */
  lastWords(): string {
    return this.logFile ? lastLine(fileTail(this.logFile)) : this.tail.lastLine();
  }

  /** One line: `the Prefect server exited (signal SIGKILL): <its last line> (log: <file>)`. */
  describeExit(): string {
    const how =
      this.exitCode === undefined
        ? "is running"
        : `exited (${this.exitSignal ? `signal ${this.exitSignal}` : `status ${this.exitCode}`})`;
    const said = this.lastWords();
    return `${this.what} ${how}${said ? `: ${said}` : ""}${this.logFile ? ` (log: ${this.logFile})` : ""}`;
  }

  /**
   * `signal` to the whole group, KILL after the grace; resolves once it is gone. With
   * `leaderFirst`, the leader alone gets that signal first and up to `waitMs` to exit.
   */
  async stop({
    graceMs = 10_000,
    signal,
    leaderFirst,
  }: {
    graceMs?: number;
    signal?: NodeJS.Signals;
    leaderFirst?: { signal: NodeJS.Signals; waitMs: number };
  } = {}): Promise<void> {
    this.stopRequested = true;
    if (leaderFirst && this.running) {
      try {
        process.kill(this.pid, leaderFirst.signal);
        await Promise.race([this.exited, sleep(leaderFirst.waitMs)]);
      } catch {
        // it exited just now
      }
    }
    if (this.child.pid !== undefined) {
      await stopProcessGroup(this.child.pid, { graceMs, ...(signal ? { signal } : {}) });
    }
    await this.exited;
  }
}

/**
 * Keeps a helper running for the whole batch: one that dies on its own (not by `stop`) is
 * started again, one restart at a time. Polled by whoever depends on it.
 */
export class KeepAlive {
  private restarting: Promise<void> | undefined;
  /** Set when a restart failed: one line naming what died and why it could not come back. */
  failure: string | undefined;

  constructor(
    private current: HelperProcess,
    private readonly restart: () => Promise<HelperProcess>,
    private readonly log: Logger,
  ) {}

  get process(): HelperProcess {
    return this.current;
  }

  /** True while the helper serves; starts a restart when it has died on its own. */
  check(): boolean {
    if (this.failure !== undefined || this.restarting) return false;
    if (this.current.running || this.current.stopping) return true;
    const died = this.current.describeExit();
    const since = Date.now();
    this.log.warn(`${died}: starting it again`);
    this.restarting = this.restart().then(
      (next) => {
        this.current = next;
        this.restarting = undefined;
        this.log.info(`${next.what} is back (restarted in ${((Date.now() - since) / 1000).toFixed(1)}s)`);
      },
      (error: Error) => {
        this.failure = `${died}, and starting it again failed: ${lastLine(error.message)}`;
        this.restarting = undefined;
      },
    );
    return false;
  }
}
