// A shared Prefect 3 server with process workers on several hosts, for tests: the server
// (this package's PrefectServer) listens on the bridge address of test hosts
// (@sierra-exec/execenv-testkit/test-hosts), each worker runs on a host of its own, as a lab
// runs them on its machines. Linux and root only (network namespaces).
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  EXECUTION_MARKER,
  type HelperProcess,
  killMarkedOnExit,
  stopMarkedProcesses,
} from "@sierra-exec/core";
import { startTestHosts, type TestHost } from "@sierra-exec/execenv-testkit/test-hosts";
import { prefectVersion, templateDatabase } from "./prefect-install.js";
import { PrefectServer } from "./server.js";

export interface PrefectTestCluster {
  /** `http://<bridge address>:<port>/api`: what workers and clients set as PREFECT_API_URL. */
  apiUrl: string;
  uiUrl: string;
  /** Basic auth `user:password` the server requires (clients send it as PREFECT_API_AUTH_STRING); "" when none. */
  authString: string;
  /** The Prefect python used by the server and the workers. */
  python: string;
  hosts: TestHost[];
  /**
   * Starts `python -m prefect worker start --pool <pool> --type process` on `host` (a
   * PREFECT_HOME of its own, polling every second); resolves once the worker is ONLINE for
   * the pool over the API. The pool is made as a process pool if missing, as Prefect's
   * worker does. `name` defaults to the host's name (`<host>-2`, ... for more on one host);
   * `env` is added to the worker's environment (and so its flow runs').
   */
  startWorker(
    host: TestHost,
    options: { pool: string; limit?: number; name?: string; env?: Record<string, string> },
  ): Promise<HelperProcess>;
  /** Stops the workers and everything on the hosts, the server, and removes the hosts and the directory. */
  stop(): Promise<void>;
}

const log = { info: () => {}, warn: () => {}, debug: () => {} };
const SERVER_START_SECONDS = 180;
const WORKER_ONLINE_MS = 120_000;

/** The workers the server knows for `pool` (none while the pool does not exist yet). */
async function workersOf(apiUrl: string, authString: string, pool: string) {
  const response = await fetch(`${apiUrl}/work_pools/${encodeURIComponent(pool)}/workers/filter`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(authString ? { authorization: `Basic ${Buffer.from(authString).toString("base64")}` } : {}),
    },
    body: "{}",
  });
  if (response.status === 404) return [];
  if (!response.ok) throw new Error(`Prefect API, workers of ${pool}: HTTP ${response.status}`);
  return (await response.json()) as { name: string; status: string }[];
}

/**
 * Starts test hosts and a server on their bridge address (about 10 s, most of it the
 * server's start), with basic auth unless `auth: false`. `stop()` leaves nothing, and
 * neither does the test process's exit, SIGTERM or SIGINT before it.
 */
export async function startPrefectTestCluster(options: {
  hosts: number;
  python: string;
  auth?: boolean;
}): Promise<PrefectTestCluster> {
  const { python, auth = true } = options;
  const testHosts = await startTestHosts({ count: options.hosts });
  const dir = mkdtempSync(path.join(tmpdir(), "sierra-prefect-cluster-"));
  const executionId = `prefect-test-cluster-${path.basename(dir)}`;
  const authString = auth ? `sierra:${randomBytes(12).toString("hex")}` : "";
  // The server lives outside the hosts: on exit before stop(), kill it as the hosts' hook kills theirs.
  const removeHook = killMarkedOnExit(EXECUTION_MARKER, executionId, () =>
    rmSync(dir, { recursive: true, force: true }),
  );
  const started: HelperProcess[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await testHosts.stop();
    for (const helper of started.reverse()) await helper.stop();
    await stopMarkedProcesses(EXECUTION_MARKER, executionId);
    removeHook();
    rmSync(dir, { recursive: true, force: true });
  };

  let server: PrefectServer;
  try {
    const version = await prefectVersion(python);
    server = await PrefectServer.start({
      python,
      dir,
      templateDatabase: await templateDatabase({ python, version, from: "option" }, { log }),
      executionId,
      startTimeout: SERVER_START_SECONDS,
      signal: new AbortController().signal,
      onStarted: (helper) => started.push(helper),
      host: testHosts.bridgeAddress,
      ...(authString ? { authString } : {}),
    });
  } catch (error) {
    await stop();
    throw error;
  }

  const names = new Map<string, number>();
  const startWorker: PrefectTestCluster["startWorker"] = async (host, { pool, limit, name, env = {} }) => {
    const count = (names.get(host.name) ?? 0) + 1;
    names.set(host.name, count);
    const worker = name ?? (count === 1 ? host.name : `${host.name}-${count}`);
    const home = path.join(dir, "hosts", worker);
    mkdirSync(home, { recursive: true });
    const args = ["-m", "prefect", "worker", "start", "--pool", pool, "--type", "process", "--name", worker];
    const helper = await host.start(
      `the Prefect worker ${worker}`,
      python,
      [...args, ...(limit ? ["--limit", String(limit)] : [])],
      {
        env: {
          PREFECT_API_URL: server.apiUrl,
          ...(authString ? { PREFECT_API_AUTH_STRING: authString } : {}),
          PREFECT_HOME: home,
          PREFECT_PROFILES_PATH: path.join(home, "profiles.toml"),
          PREFECT_WORKER_QUERY_SECONDS: "1",
          PREFECT_CLI_PROMPT: "false",
          PREFECT_CLI_COLORS: "false",
          DO_NOT_TRACK: "1",
          ...env,
        },
        logFile: path.join(dir, `worker-${worker}.log`),
        cwd: home,
      },
    );
    started.push(helper);
    const deadline = Date.now() + WORKER_ONLINE_MS;
    for (;;) {
      const workers = await workersOf(server.apiUrl, authString, pool);
      if (workers.some((known) => known.name === worker && known.status === "ONLINE")) return helper;
      if (!helper.running) throw new Error(`test cluster: ${helper.describeExit()}`);
      if (Date.now() > deadline) {
        throw new Error(
          `test cluster: the worker ${worker} was not ONLINE within ${WORKER_ONLINE_MS} ms (log: ${helper.logFile})`,
        );
      }
      await sleep(200);
    }
  };

  return {
    apiUrl: server.apiUrl,
    uiUrl: server.url,
    authString,
    python,
    hosts: testHosts.hosts,
    startWorker,
    stop,
  };
}
