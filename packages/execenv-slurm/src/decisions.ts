// What the slurm execenv submits, with which arguments, and how Slurm's job states become
// run records: pure functions, tested without a cluster.
import type { RunOutcome } from "@sierra-exec/core";
import type { SlurmOptions } from "./options.js";

/** Inside an allocation (sierra called from sbatch or salloc) runs are steps; outside, jobs. */
export type Mode = "steps" | "jobs";

export const modeOf = (env: NodeJS.ProcessEnv): Mode => (env.SLURM_JOB_ID ? "steps" : "jobs");

/** Options that only shape submitted jobs, and mean nothing to steps of an allocation. */
export const JOB_ONLY_OPTIONS = ["partition", "account", "qos", "time", "nodes", "sbatchArgs"] as const;

/** sbatch options every job of the batch gets (also checked with `sbatch --test-only`). */
export function jobResourceArguments(options: SlurmOptions): string[] {
  return [
    ...(options.partition ? [`--partition=${options.partition}`] : []),
    ...(options.account ? [`--account=${options.account}`] : []),
    ...(options.qos ? [`--qos=${options.qos}`] : []),
    ...(options.time ? [`--time=${options.time}`] : []),
    ...(options.memPerRun ? [`--mem=${options.memPerRun}`] : []),
    `--cpus-per-task=${options.cpusPerRun}`,
    "--ntasks=1",
    "--nodes=1",
    ...(options.sbatchArgs?.trim() ? options.sbatchArgs.trim().split(/\s+/) : []),
  ];
}

export interface ArraySubmission {
  options: SlurmOptions;
  /** Runs in this array: tasks 0..count-1. */
  count: number;
  /** At most this many tasks at once (`%N`). */
  throttle: number;
  jobName: string;
  /** The array job that must end first (arrays larger than MaxArraySize go in chained parts). */
  after?: string;
  /** Where the jobs' own output goes (the wrapper's errors; runs write their own files). */
  output: string;
  script: string;
}

/** `sbatch` arguments for one job array of runs. */
export function sbatchArguments(submission: ArraySubmission): string[] {
  const { count, throttle, jobName, after, output, script } = submission;
  return [
    "--parsable",
    `--array=0-${count - 1}%${Math.min(throttle, count)}`,
    `--job-name=${jobName}`,
    `--output=${output}`,
    // The runs inherit the caller's environment, as with every execenv.
    "--export=ALL",
    ...(after ? [`--dependency=afterany:${after}`, "--kill-on-invalid-dep=no"] : []),
    ...jobResourceArguments(submission.options),
    script,
  ];
}

/** `srun` arguments for one run as a step of the allocation, on `node`. */
export function srunArguments(options: SlurmOptions, node: string, stepName: string): string[] {
  return [
    "--nodes=1",
    "--ntasks=1",
    `--nodelist=${node}`,
    // Only the CPUs asked for, so that steps on one node run side by side.
    "--exact",
    `--cpus-per-task=${options.cpusPerRun}`,
    ...(options.memPerRun ? [`--mem=${options.memPerRun}`] : []),
    `--job-name=${stepName}`,
    "--quiet",
  ];
}

/**
 * The fewest CPUs the allocation has on one node, from SLURM_JOB_CPUS_PER_NODE
 * (`4(x2),2`: two nodes with 4, one with 2); undefined when it is not set.
 */
export function fewestCpusPerNode(value: string | undefined): number | undefined {
  const counts = (value ?? "").match(/\d+(?=\(x\d+\)|,|$)/g)?.map(Number) ?? [];
  return counts.length > 0 ? Math.min(...counts) : undefined;
}

/** Splits `items` into parts of at most `size` (MaxArraySize - 1 tasks fit in one array). */
export function parts<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size));
  return result;
}

/**
 * Steps mode's cap: at most `perNode` runs on each node at once. A run goes to the node
 * with the fewest, so that the batch spreads over all nodes.
 */
export class NodeSlots {
  private readonly busy = new Map<string, number>();

  constructor(
    nodes: readonly string[],
    private readonly perNode: number,
  ) {
    for (const node of nodes) this.busy.set(node, 0);
  }

  take(): string | undefined {
    let best: string | undefined;
    for (const [node, count] of this.busy) {
      if (count < this.perNode && (best === undefined || count < (this.busy.get(best) ?? 0))) best = node;
    }
    if (best !== undefined) this.busy.set(best, (this.busy.get(best) ?? 0) + 1);
    return best;
  }

  release(node: string): void {
    this.busy.set(node, Math.max(0, (this.busy.get(node) ?? 0) - 1));
  }
}

/** Job states after which a job runs no more (squeue's long names). */
const TERMINAL = new Set([
  "BOOT_FAIL",
  "CANCELLED",
  "COMPLETED",
  "DEADLINE",
  "FAILED",
  "NODE_FAIL",
  "OUT_OF_MEMORY",
  "PREEMPTED",
  "TIMEOUT",
  "SPECIAL_EXIT",
  "REVOKED",
]);

export const isTerminal = (state: string) => TERMINAL.has(state);

/** What Slurm did to a job, said in a record when its run could not say it itself. */
const WHY: Record<string, { signal: string | null; why: string }> = {
  CANCELLED: { signal: "SIGTERM", why: "cancelled (scancel)" },
  TIMEOUT: { signal: "SIGTERM", why: "reached its time limit (--time)" },
  OUT_OF_MEMORY: { signal: "SIGKILL", why: "ran out of memory (--mem-per-run)" },
  NODE_FAIL: { signal: null, why: "lost its node (NODE_FAIL)" },
  BOOT_FAIL: { signal: null, why: "its node failed to boot (BOOT_FAIL)" },
  PREEMPTED: { signal: "SIGTERM", why: "was preempted" },
  DEADLINE: { signal: null, why: "missed its deadline" },
};

/**
 * The record of a run whose job ended without the run's own end file: `undefined` when
 * the run never started and the batch is stopping (it is simply not run).
 */
export function outcomeOfEndedJob(job: {
  id: string;
  state: string;
  reason?: string;
  started: boolean;
  stopping: boolean;
}): RunOutcome | undefined {
  if (!job.started && job.stopping) return undefined;
  const known = WHY[job.state];
  const why = known?.why ?? `ended ${job.state}`;
  const reason = job.reason && job.reason !== "None" ? ` (${job.reason})` : "";
  if (!job.started) {
    return { exitCode: null, signal: null, error: `could not start: Slurm job ${job.id} ${why}${reason}` };
  }
  return {
    exitCode: null,
    signal: known?.signal ?? null,
    error: `Slurm job ${job.id} ${why}${reason} before its run could record its end${
      known ? "" : ": is the batch root on a filesystem that the nodes share?"
    }`,
  };
}

/** One line of `squeue -h -r --states=all -o '%F|%K|%T|%r'`: array job, task, state, reason. */
export interface QueuedTask {
  arrayJob: string;
  task: number;
  state: string;
  reason: string;
}

export const SQUEUE_FORMAT = "%F|%K|%T|%r";

export function parseSqueue(text: string): QueuedTask[] {
  return text
    .split("\n")
    .map((line) => line.trim().split("|"))
    .filter((fields) => fields.length === 4 && /^\d+$/.test(fields[1] ?? ""))
    .map(([arrayJob = "", task = "", state = "", reason = ""]) => ({
      arrayJob,
      task: Number(task),
      state,
      reason,
    }));
}

/** The job id in `sbatch --parsable` output: `123` or `123;cluster`. */
export function parseJobId(text: string): string {
  const id = text.trim().split(";")[0] ?? "";
  if (!/^\d+$/.test(id)) throw new Error(`sbatch printed no job id: ${JSON.stringify(text.trim())}`);
  return id;
}

/** `Key=Value` fields of one line of `scontrol -o show ...` (values without spaces). */
export function scontrolFields(line: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of line.matchAll(/(\S+?)=(\S*)/g)) fields[match[1] as string] = match[2] as string;
  return fields;
}

/** Total nodes of `partition`, or of the default partition, from `scontrol -o show partition`. */
export function partitionNodes(text: string, partition: string | undefined): number | undefined {
  for (const line of text.split("\n")) {
    const fields = scontrolFields(line);
    if (partition ? fields.PartitionName === partition : fields.Default === "YES")
      return Number(fields.TotalNodes);
  }
  return undefined;
}

/** The first `error:` line of a Slurm command's stderr, without the command's name. */
export function slurmError(stderr: string): string {
  const lines = stderr.split("\n").map((line) => line.trim());
  const error = lines.find((line) => /error:/.test(line)) ?? lines.find(Boolean) ?? "no message";
  return error.replace(/^\S+: (fatal|error): /, "");
}
