// The slurm execenv against the whole execution contract (@sierra-exec/execenv-testkit) from
// inside an allocation (`salloc --no-shell` of one node of a real test cluster): the runs
// are job steps, at most --exec-jobs-per-node at once on the node.
import { describeExecEnvConformance } from "@sierra-exec/execenv-testkit";
import { execa } from "execa";
import { afterAll, beforeAll } from "vitest";
import slurm from "../src/index.js";
import { startTestCluster, type TestCluster } from "../src/test-cluster.js";

let cluster: TestCluster | undefined;
let allocation: string | undefined;
beforeAll(async () => {
  cluster = await startTestCluster({ nodes: 3, cpus: 4 });
  process.env.SLURM_CONF = cluster.env.SLURM_CONF;
  const granted = await execa("salloc", ["--no-shell", "--nodes=1", "--exclusive"]);
  allocation = /Granted job allocation (\d+)/.exec(granted.stderr)?.[1];
  const { stdout: nodelist } = await execa("squeue", ["-h", "-j", allocation as string, "-o", "%N"]);
  Object.assign(process.env, { SLURM_JOB_ID: allocation, SLURM_JOB_NODELIST: nodelist.trim() });
});
afterAll(async () => {
  if (allocation) await execa("scancel", [allocation], { reject: false });
  await cluster?.stop();
});

describeExecEnvConformance(slurm, { options: { killGrace: 0.5 }, timeout: 120_000 });
