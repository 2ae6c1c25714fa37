// The `slurm` execenv (SIERRA's `hpc.slurm`): runs a batch on a Slurm cluster. Inside an
// allocation (SLURM_JOB_ID set) each run is a job step on one of its nodes, at most
// --exec-jobs-per-node per node; outside, the runs go to Slurm as job arrays, at most
// --exec-jobs-per-node x the nodes at once. Each run is hosted by python/run.py on its node.
import path from "node:path";
import { defineExecEnv, SierraError, Watchdog } from "@sierra-exec/core";
import { fewestCpusPerNode, JOB_ONLY_OPTIONS, modeOf } from "./decisions.js";
import { executeJobs } from "./jobs.js";
import { type SlurmOptions, slurmOptionsSchema } from "./options.js";
import { RunFiles } from "./run-files.js";
import { type ClusterFacts, checkCluster } from "./slurm.js";
import { executeSteps } from "./steps.js";

export {
  jobResourceArguments,
  modeOf,
  NodeSlots,
  outcomeOfEndedJob,
  sbatchArguments,
  srunArguments,
} from "./decisions.js";
export { type SlurmOptions, slurmOptionsSchema } from "./options.js";

export interface SlurmState {
  facts: ClusterFacts;
  files: RunFiles;
  /** Jobs mode: cancels the batch's jobs if this process dies without cleaning up. */
  watchdog?: Watchdog;
  jobName: string;
}

// check() learns the cluster and setupBatch() uses it, per execution.
const checked = new Map<string, ClusterFacts>();

export default defineExecEnv({
  name: "slurm",
  aliases: ["hpc.slurm"],
  description: "Runs on a Slurm cluster: job steps inside an allocation, job arrays it submits outside one",
  options: slurmOptionsSchema,
  // Runs execute on the cluster's nodes, which share the batch root with this host.
  capabilities: { resume: true, strictStop: true, cancellation: true, perRunLogs: true, remote: true },

  async check({ options, jobs, executionId, log }) {
    const mode = modeOf(process.env);
    if (mode === "steps") {
      const ignored = JOB_ONLY_OPTIONS.filter((name) => options[name] !== undefined);
      if (ignored.length > 0) {
        log.warn(
          `inside allocation ${process.env.SLURM_JOB_ID}, runs are its steps: ignoring ${ignored.join(", ")}`,
        );
      }
      // Steps wait for free CPUs: more runs per node than it has CPUs for would queue, not run.
      const cpus = fewestCpusPerNode(process.env.SLURM_JOB_CPUS_PER_NODE);
      if (cpus !== undefined && jobs * options.cpusPerRun > cpus) {
        log.warn(
          `allocation ${process.env.SLURM_JOB_ID} has ${cpus} CPUs on a node, fewer than --exec-jobs-per-node x --cpus-per-run (${jobs * options.cpusPerRun}): runs will wait for CPUs`,
        );
      }
    }
    checked.set(executionId, await checkCluster(options, jobs, mode));
  },

  async setupBatch({ options, batch, executionId, onCleanup, log }): Promise<SlurmState> {
    const facts = checked.get(executionId);
    if (!facts) throw new SierraError("the slurm execenv was set up without its check");
    checked.delete(executionId);
    const files = new RunFiles(path.join(batch.root, "scratch", ".slurm", executionId));
    const jobName = `${options.jobNamePrefix}-${path.basename(batch.root)}`;
    if (facts.mode === "steps") {
      log.info(
        `slurm: runs are steps of allocation ${process.env.SLURM_JOB_ID} on ${facts.nodes.join(",")} (state in ${files.dir})`,
      );
      return { facts, files, jobName };
    }
    const watchdog = await Watchdog.start(options.python, executionId, options.killGrace + 3);
    onCleanup(() => watchdog.dismiss());
    log.info(`slurm: submitting job arrays, at most ${facts.throttle} runs at once (state in ${files.dir})`);
    return { facts, files, watchdog, jobName };
  },

  execute: (runs, ctx) => {
    const { facts, files, watchdog, jobName } = ctx.state;
    if (facts.mode === "steps") return executeSteps(runs, ctx, { files, nodes: facts.nodes, jobName });
    return executeJobs(runs, ctx, {
      files,
      watchdog: watchdog as Watchdog,
      throttle: facts.throttle,
      maxArraySize: facts.maxArraySize,
      jobName,
    });
  },
});

export type { SlurmOptions as Options };
