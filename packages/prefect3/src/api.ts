// The typed client of the batch's Prefect server: openapi-fetch over the types generated
// from the pinned server's OpenAPI schema (src/prefect-api.d.ts, `pnpm generate:api`).
import { setTimeout as sleep } from "node:timers/promises";
import { lastLine } from "@sierra-exec/core";
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./prefect-api.js";

/** An interface, not an alias: declarations that name it import it from here, not from openapi-fetch. */
export interface PrefectClient extends Client<paths> {}
export type FlowRun = components["schemas"]["FlowRun"];
export type StateType = components["schemas"]["StateType"];

/** SQLite's "database is locked" comes back as 503; Prefect's own client retries it too. */
const RETRY_STATUS = new Set([429, 502, 503]);
const CONNECT_ATTEMPTS = 5;
/** A server that accepts connections but never answers (hung, or not Prefect) is an error too. */
const ATTEMPT_MS = 60_000;

/**
 * fetch that retries busy answers with backoff (100 ms doubling to 2 s, 25 attempts: bursts
 * of 503 after a large flow run last over 7 s), and refused connections 5 times (1.5 s): a
 * server that died is noticed and started again by the caller, not waited for here.
 */
export const retryingFetch =
  (attempts = 25): typeof fetch =>
  async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    for (let attempt = 1; ; attempt++) {
      const backoff = Math.min(100 * 2 ** (attempt - 1), 2000);
      try {
        const response = await fetch(request.clone(), { signal: AbortSignal.timeout(ATTEMPT_MS) });
        if (!RETRY_STATUS.has(response.status) || attempt >= attempts) return response;
      } catch (error) {
        if (attempt >= Math.min(attempts, CONNECT_ATTEMPTS)) throw error;
      }
      await sleep(backoff);
    }
  };

export const connect = (apiUrl: string, attempts?: number): PrefectClient =>
  createClient<paths>({ baseUrl: apiUrl, fetch: retryingFetch(attempts) });

/** The data of an answer, or a one-line error naming the call and the start of the server's complaint. */
export function must<T>(answer: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (answer.data !== undefined) return answer.data;
  throw new Error(
    `Prefect API, ${what}: HTTP ${answer.response.status} ${lastLine(JSON.stringify(answer.error))}`,
  );
}
