// The slurm execenv against the whole execution contract (@sierra-exec/execenv-testkit), on
// a real 3-node Slurm cluster started for this file, from outside an allocation: the runs
// are job arrays. `nodes: 1` makes the cap --exec-jobs-per-node, as the suite expects.
import { describeExecEnvConformance } from "@sierra-exec/execenv-testkit";
import { afterAll, beforeAll } from "vitest";
import slurm from "../src/index.js";
import { startTestCluster, type TestCluster } from "../src/test-cluster.js";

let cluster: TestCluster | undefined;
beforeAll(async () => {
  cluster = await startTestCluster({ nodes: 3, cpus: 4 });
  process.env.SLURM_CONF = cluster.env.SLURM_CONF;
  delete process.env.SLURM_JOB_ID;
});
afterAll(() => cluster?.stop());

describeExecEnvConformance(slurm, { options: { killGrace: 0.5, nodes: 1 }, timeout: 120_000 });
