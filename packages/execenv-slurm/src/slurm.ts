// Slurm's client commands, and the environment check that runs before anything is
// submitted: client on PATH, controller reachable, job options accepted (sbatch --test-only).
import { SierraError } from "@sierra-exec/core";
import { execa } from "execa";
import { jobResourceArguments, type Mode, partitionNodes, scontrolFields, slurmError } from "./decisions.js";
import type { SlurmOptions } from "./options.js";

/**
 * Runs a Slurm command with this process's environment plus `env`; never rejects (ENOENT
 * and timeouts come back as failures).
 */
export function slurm(
  command: string,
  args: readonly string[],
  timeoutMs = 60_000,
  env: NodeJS.ProcessEnv = {},
) {
  return execa(command, args, { reject: false, timeout: timeoutMs, stdin: "ignore", env });
}

export interface ClusterFacts {
  mode: Mode;
  /** Steps mode: the allocation's nodes. */
  nodes: string[];
  /** Jobs mode: how many runs at once (jobs per node x nodes). */
  throttle: number;
  /** Jobs mode: the largest array index + 1 (MaxArraySize). */
  maxArraySize: number;
}

const FIX_CLIENT = "put Slurm's client commands on PATH (e.g. module load slurm) or install slurm-client";

async function need(command: string, args: readonly string[], what: string) {
  const result = await slurm(command, args, 30_000);
  if ((result as { code?: string }).code === "ENOENT") {
    throw new SierraError(`the slurm execenv needs ${command}, which is not on PATH: ${FIX_CLIENT}`);
  }
  if (result.exitCode !== 0 || result.timedOut) {
    throw new SierraError(
      `${what} failed (${command}: ${result.timedOut ? "no answer within 30 s" : slurmError(result.stderr || result.stdout)}): check that slurmctld runs and that SLURM_CONF or /etc/slurm/slurm.conf names it`,
    );
  }
  return result.stdout;
}

/** Checks the cluster and what the batch would submit; throws a SierraError saying how to fix it. */
export async function checkCluster(options: SlurmOptions, jobs: number, mode: Mode): Promise<ClusterFacts> {
  const ping = await need("scontrol", ["ping"], "reaching the Slurm controller");
  if (!/\bUP\b/.test(ping)) {
    throw new SierraError(
      `the Slurm controller is not up (scontrol ping: ${ping.trim()}): check that slurmctld runs and that SLURM_CONF or /etc/slurm/slurm.conf names it`,
    );
  }
  if (mode === "steps") {
    const list = process.env.SLURM_JOB_NODELIST ?? process.env.SLURM_NODELIST ?? "";
    const hosts = await need("scontrol", ["show", "hostnames", list], "listing the allocation's nodes");
    await need("srun", ["--version"], "srun");
    return { mode, nodes: hosts.split("\n").filter(Boolean), throttle: 0, maxArraySize: 0 };
  }
  const partitions = await need("scontrol", ["-o", "show", "partition"], "listing partitions");
  const total = partitionNodes(partitions, options.partition);
  if (total === undefined) {
    const names = partitions
      .split("\n")
      .map((line) => scontrolFields(line).PartitionName)
      .filter(Boolean);
    throw new SierraError(
      options.partition
        ? `unknown Slurm partition ${JSON.stringify(options.partition)}: pass one of ${names.join(", ")} to --partition`
        : `the Slurm cluster has no default partition: pass one of ${names.join(", ")} to --partition`,
    );
  }
  const test = await slurm(
    "sbatch",
    ["--test-only", ...jobResourceArguments(options), "--wrap=true"],
    30_000,
  );
  if (test.exitCode !== 0) {
    throw new SierraError(
      `Slurm refuses the runs' jobs (sbatch --test-only: ${slurmError(test.stderr)}): fix --partition, --account, --qos, --time, --mem-per-run, --cpus-per-run or --sbatch-args`,
    );
  }
  const config = await need("scontrol", ["show", "config"], "reading the Slurm configuration");
  const maxArraySize = Number(/^MaxArraySize\s*=\s*(\d+)/m.exec(config)?.[1] ?? 1001);
  return { mode, nodes: [], throttle: jobs * (options.nodes ?? total), maxArraySize };
}
