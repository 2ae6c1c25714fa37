// The batch's own Prefect server: its database and PREFECT_HOME in the batch's scratch area,
// a free loopback port (or one on the address given), its own process group; ready once
// /api/health then /api/ready answer.
// A server that dies mid-batch is started again on the same database and port, so that the
// flow run (whose engine retries its API calls) carries on.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HelperProcess, SierraError } from "@sierra-exec/core";
import getPort from "get-port";
import { type IsolationSettings, prefectEnv, type Role } from "./prefect-env.js";

/** Starts `python -m prefect <args>` for the batch, its output appended to `log`. */
export const startPrefect = (
  what: string,
  python: string,
  args: string[],
  log: string,
  env: Record<string, string>,
) => HelperProcess.start(what, python, ["-m", "prefect", ...args], { env, logFile: log });

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
  /** Receives each server process at once, so that it is stopped even if start-up fails. */
  onStarted: (process: HelperProcess) => void;
  /**
   * Starts what can boot beside the server (the flow engine) once it has its port; called again
   * if the server has to move to another port.
   */
  alongside?: (server: PrefectServer) => Promise<void>;
  /** The address it listens on (default 127.0.0.1): a server that other hosts use binds theirs. */
  host?: string;
  /** Basic auth `user:password` the server requires of every API call but health and readiness. */
  authString?: string;
}

/** Can `port` be bound on `host` now? (get-port would refuse a port it handed out recently.) */
const portFree = (port: number, host: string) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });

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

/** A client's credentials for a server that requires basic auth (its own services are clients too). */
const authEnv = (authString: string | undefined): Record<string, string> =>
  authString ? { PREFECT_API_AUTH_STRING: authString } : {};

/** Where a batch's own server listens unless told otherwise. */
const LOOPBACK = "127.0.0.1";

const FIX = "pass --prefect-python PATH with a working Prefect, or leave it out to use a managed one";

export class PrefectServer {
  private constructor(
    private current: HelperProcess,
    readonly isolation: IsolationSettings,
    readonly port: number,
    private readonly settings: ServerSettings,
  ) {}

  /** The server process now serving (a new one after a restart). */
  get process(): HelperProcess {
    return this.current;
  }

  get host(): string {
    return this.settings.host ?? LOOPBACK;
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  get apiUrl(): string {
    return this.isolation.apiUrl;
  }

  get log(): string {
    return path.join(this.settings.dir, "server.log");
  }

  /** The environment for another Prefect process of this batch. */
  envFor(role: Role): Record<string, string> {
    return { ...prefectEnv(process.env, this.isolation, role), ...authEnv(this.settings.authString) };
  }

  /** Starts the server on a fresh copy of the template database; resolves once it is ready. */
  static async start(settings: ServerSettings): Promise<PrefectServer> {
    const { dir, host = LOOPBACK } = settings;
    mkdirSync(path.join(dir, "home"), { recursive: true });
    const database = path.join(dir, "prefect.db");
    copyFileSync(settings.templateDatabase, database);
    // Another program may take the port between the probe and the bind: then try another.
    for (let attempt = 1; ; attempt++) {
      const port = await getPort({ host });
      const isolation = {
        home: path.join(dir, "home"),
        database,
        apiUrl: `http://${host}:${port}/api`,
        executionId: settings.executionId,
      };
      const server = new PrefectServer(
        await PrefectServer.spawn(settings, isolation, port),
        isolation,
        port,
        settings,
      );
      await settings.alongside?.(server);
      const failure = await server.untilReady();
      if (!failure) return server;
      if (!portTaken(server.log) || attempt >= 3) {
        throw new SierraError(`${failure}; ${FIX}`);
      }
    }
  }

  /**
   * Starts the server again on the same database and port (its API URL is in every process
   * of the batch). Resolves once it is ready; throws a SierraError naming why it cannot.
   */
  async restart(): Promise<void> {
    if (!(await portFree(this.port, this.host))) {
      throw new SierraError(`its port ${this.port} is taken by another program`);
    }
    this.current = await PrefectServer.spawn(this.settings, this.isolation, this.port);
    const failure = await this.untilReady();
    if (failure) throw new SierraError(failure);
  }

  private static async spawn(settings: ServerSettings, isolation: IsolationSettings, port: number) {
    const host = settings.host ?? LOOPBACK;
    const args = ["server", "start", "--host", host, "--port", String(port), "--analytics-off"];
    const log = path.join(settings.dir, "server.log");
    const started = await startPrefect("the Prefect server", settings.python, args, log, {
      ...prefectEnv(process.env, isolation, "server"),
      ...authEnv(settings.authString),
      ...(settings.authString ? { PREFECT_SERVER_API_AUTH_STRING: settings.authString } : {}),
    });
    settings.onStarted(started);
    return started;
  }

  /** Undefined once ready, else why it never got there. */
  private async untilReady(): Promise<string | undefined> {
    const { startTimeout, signal } = this.settings;
    const deadline = Date.now() + startTimeout * 1000;
    for (;;) {
      if (signal.aborted) throw new Error("stopped while the Prefect server was starting");
      if (await ready(this.apiUrl)) return undefined;
      if (!this.current.running) break;
      if (Date.now() > deadline) {
        throw new SierraError(
          `the Prefect server did not get ready in ${startTimeout}s (see ${this.log}); on a busy machine raise --start-timeout`,
        );
      }
      await sleep(100);
    }
    await this.current.exited;
    return `${this.current.describeExit()} at start-up on port ${this.port}`;
  }
}
