// The batch's own Prefect server: its database and PREFECT_HOME in the batch's scratch area,
// a free loopback port, its own process group; ready once /api/health then /api/ready answer.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SierraError, spawnGroup, stopProcessGroup } from "@sierra-exec/core";
import getPort from "get-port";
import { type IsolationSettings, prefectEnv, type Role } from "./prefect-env.js";

type Child = Awaited<ReturnType<typeof spawnGroup>>["child"];

/** The last non-blank line of a log file: what a crashed Prefect process said last. */
export function lastLine(file: string): string {
  try {
    return (
      readFileSync(file, "utf8")
        .split("\n")
        .map((line) => line.trim())
        .filter(Boolean)
        .at(-1) ?? ""
    );
  } catch {
    return "";
  }
}

/** A long-lived Prefect process (`python -m prefect ...`) in its own group, its output in a log file. */
export class PrefectProcess {
  readonly exited: Promise<unknown>;
  exitCode: number | null | undefined;

  private constructor(
    readonly child: Child,
    readonly log: string,
  ) {
    this.exited = child.then((result: { exitCode?: number }) => {
      this.exitCode = result.exitCode ?? null;
    });
  }

  static async start(
    python: string,
    args: string[],
    { log, env }: { log: string; env: Record<string, string> },
  ): Promise<PrefectProcess> {
    const { child } = await spawnGroup(python, ["-m", "prefect", ...args], {
      env,
      extendEnv: false,
      stdin: "ignore",
      stdout: { file: log, append: true },
      stderr: { file: log, append: true },
      buffer: false,
    });
    return new PrefectProcess(child, log);
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** TERM to the whole group, KILL after the grace; resolves once it is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.pid !== undefined) await stopProcessGroup(this.child.pid, { graceMs });
    await this.exited;
  }
}

export interface ServerSettings {
  python: string;
  /** Where the batch's Prefect state goes (PREFECT_HOME, database, logs). */
  dir: string;
  /** A migrated database to start from. */
  templateDatabase: string;
  executionId: string;
  /** Seconds to wait for readiness. */
  startTimeout: number;
  signal: AbortSignal;
}

const portTaken = (log: string) => /address already in use|Errno 98/i.test(readFileSync(log, "utf8"));

/** True once both health and readiness answer: uvicorn accepts connections only after start-up. */
async function ready(apiUrl: string): Promise<boolean> {
  try {
    const health = await fetch(`${apiUrl}/health`, { signal: AbortSignal.timeout(5000) });
    if (!health.ok || (await health.json()) !== true) return false;
    const readiness = await fetch(`${apiUrl}/ready`, { signal: AbortSignal.timeout(5000) });
    return readiness.ok;
  } catch {
    return false;
  }
}

export class PrefectServer {
  private constructor(
    readonly process: PrefectProcess,
    readonly isolation: IsolationSettings,
    readonly url: string,
  ) {}

  get apiUrl(): string {
    return this.isolation.apiUrl;
  }

  /** The environment for another Prefect process of this batch. */
  envFor(role: Role): Record<string, string> {
    return prefectEnv(process.env, this.isolation, role);
  }

  /**
   * Starts the server and resolves once it is ready. `onStarted` receives the process at
   * once, so that a caller can stop it even when start-up fails or is aborted.
   */
  static async start(
    settings: ServerSettings,
    onStarted: (process: PrefectProcess) => void,
  ): Promise<PrefectServer> {
    const { python, dir, executionId, signal } = settings;
    mkdirSync(path.join(dir, "home"), { recursive: true });
    const database = path.join(dir, "prefect.db");
    copyFileSync(settings.templateDatabase, database);
    const log = path.join(dir, "server.log");
    // Another program may take the port between the probe and the bind: then try another.
    for (let attempt = 1; ; attempt++) {
      const port = await getPort({ host: "127.0.0.1" });
      const url = `http://127.0.0.1:${port}`;
      const isolation = { home: path.join(dir, "home"), database, apiUrl: `${url}/api`, executionId };
      const args = ["server", "start", "--host", "127.0.0.1", "--port", String(port), "--analytics-off"];
      const server = await PrefectProcess.start(python, args, {
        log,
        env: prefectEnv(process.env, isolation, "server"),
      });
      onStarted(server);
      const deadline = Date.now() + settings.startTimeout * 1000;
      for (;;) {
        if (signal.aborted) throw new Error("stopped while the Prefect server was starting");
        if (await ready(isolation.apiUrl)) return new PrefectServer(server, isolation, url);
        if (!server.running) break;
        if (Date.now() > deadline) {
          throw new SierraError(
            `the Prefect server did not get ready in ${settings.startTimeout}s (see ${log}); on a busy machine raise --start-timeout`,
          );
        }
        await sleep(100);
      }
      await server.exited;
      if (!portTaken(log) || attempt >= 3) {
        throw new SierraError(
          `the Prefect server at ${python} exited at start-up (status ${server.exitCode}): ${lastLine(log)} (log: ${log}); pass --prefect-python PATH with a working Prefect, or leave it out to use a managed one`,
        );
      }
    }
  }
}
