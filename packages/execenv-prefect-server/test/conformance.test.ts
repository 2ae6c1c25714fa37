// prefect.server against the whole execution contract (@sierra-exec/execenv-testkit), on a real
// Prefect 3 server with basic auth on the bridge of test hosts, its pool served by a worker on
// one of them: the suite expects --exec-jobs-per-node to be the cap of the whole batch, which
// one worker host makes it (as `nodes: 1` does for slurm). Several hosts: ../../../apps/cli/test/prefect-server.test.ts.
import { describeExecEnvConformance } from "@sierra-exec/execenv-testkit";
import { findPrefect } from "@sierra-exec/prefect3";
import { type PrefectTestCluster, startPrefectTestCluster } from "@sierra-exec/prefect3/test-cluster";
import { afterAll, beforeAll } from "vitest";
import prefectServer from "../src/index.js";

const POOL = "conformance-pool";
/** Filled in once the cluster is up: the suite reads its options when each batch starts. */
const options: Record<string, unknown> = { workPool: POOL, killGrace: 0.5, pickupTimeout: 120 };

let cluster: PrefectTestCluster | undefined;
beforeAll(async () => {
  const log = { info: () => {}, warn: () => {}, debug: () => {} };
  const { python } = await findPrefect(undefined, { log, signal: new AbortController().signal });
  cluster = await startPrefectTestCluster({ hosts: 1, python });
  options.prefectApiUrl = cluster.apiUrl;
  process.env.PREFECT_API_AUTH_STRING = cluster.authString;
  await cluster.startWorker(cluster.hosts[0] as PrefectTestCluster["hosts"][number], { pool: POOL });
});
afterAll(async () => {
  delete process.env.PREFECT_API_AUTH_STRING;
  await cluster?.stop();
});

describeExecEnvConformance(prefectServer, { options, timeout: 240_000, runSeconds: 3 });
