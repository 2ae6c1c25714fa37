// The shared Prefect server as this execenv talks to it over REST (@sierra-exec/prefect3's
// typed client, with the batch's Authorization header added to every request): reachability,
// credentials and version, the work pool and its online workers, the batch's own deployment.
import { type Logger, SierraError } from "@sierra-exec/core";
import { connect, must, type PrefectClient, workPoolPayload } from "@sierra-exec/prefect3";
import type { Credentials } from "./credentials.js";
import { isCloudUrl, serverVersionVerdict, TESTED_SERVERS } from "./decisions.js";

/** A worker whose last heartbeat is older than this is not counted as online. */
const HEARTBEAT_MS = 90_000;

const refused = (response: Response) => response.status === 401 || response.status === 403;

export class SharedServer {
  private constructor(
    readonly apiUrl: string,
    readonly client: PrefectClient,
    private readonly credentials: Credentials,
  ) {}

  static connect(apiUrl: string, credentials: Credentials): SharedServer {
    const client = connect(apiUrl);
    const { authorization } = credentials;
    if (authorization) {
      client.use({
        onRequest: ({ request }) => {
          request.headers.set("Authorization", authorization);
          return request;
        },
      });
    }
    return new SharedServer(apiUrl.replace(/\/+$/, ""), client, credentials);
  }

  /** Reachable, credentials accepted, a Prefect 3 server: its version; else a one-line SierraError. */
  async check(pool: string, log: Logger): Promise<string> {
    const unreachable = (why: string) =>
      new SierraError(
        `cannot reach the Prefect server at ${this.apiUrl} (${why}): start it, or fix --prefect-api-url / PREFECT_API_URL`,
      );
    let health: Awaited<ReturnType<PrefectClient["GET"]>>;
    try {
      health = await this.client.GET("/health", {});
    } catch (error) {
      const cause = (error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw unreachable(cause);
    }
    if (!health.response.ok && !refused(health.response)) {
      throw unreachable(
        `HTTP ${health.response.status} from /health: is it a Prefect API URL, ending in /api?`,
      );
    }
    // Cloud has no /admin/version: its credentials are checked on the pool, as every server's are.
    const version = isCloudUrl(this.apiUrl) ? undefined : await this.client.GET("/admin/version", {});
    if (version && refused(version.response)) throw this.refusal();
    SharedServer.assertProcessPool(pool, await this.poolType(pool));
    if (!version) return "Cloud";
    const found = String(must(version, "reading the server's version"));
    const verdict = serverVersionVerdict(found);
    if (verdict === "unsupported") {
      throw new SierraError(
        `the server at ${this.apiUrl} is Prefect ${found}, not Prefect 3: point --prefect-api-url at a Prefect 3 server`,
      );
    }
    if (verdict === "untested") {
      log.warn(
        `the server at ${this.apiUrl} is Prefect ${found}, outside the tested ${TESTED_SERVERS.from} to below ${TESTED_SERVERS.below}`,
      );
    }
    return found;
  }

  /** Names where the refused credentials came from, never what they are. */
  private refusal(): SierraError {
    const used = this.credentials.source ? ` from ${this.credentials.source}` : " (none were given)";
    return new SierraError(
      `the Prefect server at ${this.apiUrl} refused the credentials${used}: set PREFECT_API_AUTH_STRING to the server's PREFECT_SERVER_API_AUTH_STRING (or PREFECT_API_KEY for Prefect Cloud), or pass --prefect-api-auth-string-file / --prefect-api-key-file`,
    );
  }

  /** The pool's type, or undefined when there is no such pool. */
  async poolType(pool: string): Promise<string | undefined> {
    const answer = await this.client.GET("/work_pools/{name}", { params: { path: { name: pool } } });
    if (answer.response.status === 404) return undefined;
    if (refused(answer.response)) throw this.refusal();
    return must(answer, `reading work pool ${pool}`).type;
  }

  /** Refuses a pool that is not a process pool: its workers would not run the flow in place. */
  static assertProcessPool(pool: string, type: string | undefined): void {
    if (type !== undefined && type !== "process") {
      throw new SierraError(
        `work pool ${pool} is a ${type} pool, not a process pool: pass --work-pool NAME of a process pool, or a new name (it is created as a process pool)`,
      );
    }
  }

  /** Creates the pool as a process pool if it is missing (another batch may do it at the same moment). */
  async ensurePool(pool: string, log: Logger): Promise<void> {
    if ((await this.poolType(pool)) !== undefined) return;
    const created = await this.client.POST("/work_pools/", { body: workPoolPayload(pool) });
    if (created.response.status === 409) {
      SharedServer.assertProcessPool(pool, await this.poolType(pool));
      return;
    }
    must(created, `creating work pool ${pool}`);
    log.info(
      `created the process work pool ${pool}: start a worker on each worker host with \`prefect worker start --pool ${pool}\``,
    );
  }

  /** Workers of the pool that are online (a heartbeat within the last 90 s). */
  async onlineWorkers(pool: string): Promise<string[]> {
    const answer = await this.client.POST("/work_pools/{work_pool_name}/workers/filter", {
      params: { path: { work_pool_name: pool } },
      body: {
        workers: {
          status: { any_: ["ONLINE"] },
          last_heartbeat_time: { after_: new Date(Date.now() - HEARTBEAT_MS).toISOString() },
        },
      },
    });
    if (answer.response.status === 404) return [];
    return must(answer, `listing the workers of pool ${pool}`).map((worker) => worker.name);
  }
}
