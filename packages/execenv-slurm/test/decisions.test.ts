// What the slurm execenv submits and how Slurm's job states become records: no cluster needed.
import { describe, expect, it } from "vitest";
import {
  fewestCpusPerNode,
  modeOf,
  NodeSlots,
  outcomeOfEndedJob,
  parseJobId,
  parseSqueue,
  partitionNodes,
  parts,
  sbatchArguments,
  slurmError,
  srunArguments,
} from "../src/decisions.js";
import { slurmOptionsSchema } from "../src/options.js";

const defaults = slurmOptionsSchema.parse({});

describe("mode", () => {
  it("is steps inside an allocation and jobs outside one", () => {
    expect(modeOf({ SLURM_JOB_ID: "42" })).toBe("steps");
    expect(modeOf({})).toBe("jobs");
  });
});

describe("sbatch arguments", () => {
  const submission = {
    options: defaults,
    count: 60,
    throttle: 6,
    jobName: "sierra-batch",
    output: "/state/slurm-%A_%a.out",
    script: "/state/runs-1.sh",
  };

  it("one array, throttled to jobs per node x nodes, with the caller's environment", () => {
    expect(sbatchArguments(submission)).toEqual([
      "--parsable",
      "--array=0-59%6",
      "--job-name=sierra-batch",
      "--output=/state/slurm-%A_%a.out",
      "--export=ALL",
      "--cpus-per-task=1",
      "--ntasks=1",
      "--nodes=1",
      "/state/runs-1.sh",
    ]);
  });

  it("never a throttle above the array's size", () => {
    expect(sbatchArguments({ ...submission, count: 2 })).toContain("--array=0-1%2");
  });

  it("passes the cluster user's options, extra sbatch arguments last, the script at the end", () => {
    const options = slurmOptionsSchema.parse({
      partition: "short",
      account: "lab",
      qos: "normal",
      time: "1:00:00",
      memPerRun: "4G",
      cpusPerRun: 2,
      sbatchArgs: " --constraint=haswell   --exclusive ",
    });
    const args = sbatchArguments({ ...submission, options, after: "123" });
    expect(args).toEqual([
      "--parsable",
      "--array=0-59%6",
      "--job-name=sierra-batch",
      "--output=/state/slurm-%A_%a.out",
      "--export=ALL",
      "--dependency=afterany:123",
      "--kill-on-invalid-dep=no",
      "--partition=short",
      "--account=lab",
      "--qos=normal",
      "--time=1:00:00",
      "--mem=4G",
      "--cpus-per-task=2",
      "--ntasks=1",
      "--nodes=1",
      "--constraint=haswell",
      "--exclusive",
      "/state/runs-1.sh",
    ]);
  });

  it("refuses option values that would become several arguments", () => {
    expect(slurmOptionsSchema.safeParse({ partition: "a b" }).success).toBe(false);
    expect(slurmOptionsSchema.safeParse({ time: "one hour" }).success).toBe(false);
    expect(slurmOptionsSchema.safeParse({ memPerRun: "4 GB" }).success).toBe(false);
  });

  it("splits batches larger than MaxArraySize into parts", () => {
    expect(parts([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });
});

describe("steps", () => {
  it("one task on one named node, only the CPUs (and memory) asked for", () => {
    const options = slurmOptionsSchema.parse({ cpusPerRun: 2, memPerRun: "1G" });
    expect(srunArguments(options, "node2", "sierra-b-a/run0")).toEqual([
      "--nodes=1",
      "--ntasks=1",
      "--nodelist=node2",
      "--exact",
      "--cpus-per-task=2",
      "--mem=1G",
      "--job-name=sierra-b-a/run0",
      "--quiet",
    ]);
  });

  it("the fewest CPUs of a node of the allocation, from SLURM_JOB_CPUS_PER_NODE", () => {
    expect(fewestCpusPerNode("4(x2),2")).toBe(2);
    expect(fewestCpusPerNode("8")).toBe(8);
    expect(fewestCpusPerNode(undefined)).toBeUndefined();
  });

  it("at most N per node, spread over all nodes first", () => {
    const slots = new NodeSlots(["n1", "n2", "n3"], 2);
    const taken = Array.from({ length: 7 }, () => slots.take());
    expect(taken).toEqual(["n1", "n2", "n3", "n1", "n2", "n3", undefined]);
    slots.release("n2");
    expect(slots.take()).toBe("n2");
    expect(slots.take()).toBeUndefined();
  });
});

describe("job states to records", () => {
  const job = { id: "7_3", state: "COMPLETED", started: true, stopping: false };

  it("a run that never started while the batch stops is not run (no record)", () => {
    expect(outcomeOfEndedJob({ ...job, state: "CANCELLED", started: false, stopping: true })).toBeUndefined();
  });

  it("a job that ended before its run could start is a run that could not start", () => {
    expect(outcomeOfEndedJob({ ...job, state: "NODE_FAIL", reason: "NodeDown", started: false })).toEqual({
      exitCode: null,
      signal: null,
      error: "could not start: Slurm job 7_3 lost its node (NODE_FAIL) (NodeDown)",
    });
  });

  it("time limit, memory and cancellation: the signal Slurm sends, and why", () => {
    expect(outcomeOfEndedJob({ ...job, state: "TIMEOUT" })).toMatchObject({
      exitCode: null,
      signal: "SIGTERM",
      error: expect.stringContaining("reached its time limit (--time)"),
    });
    expect(outcomeOfEndedJob({ ...job, state: "OUT_OF_MEMORY" })).toMatchObject({ signal: "SIGKILL" });
    expect(outcomeOfEndedJob({ ...job, state: "CANCELLED" })).toMatchObject({ signal: "SIGTERM" });
  });

  it("a job over without its run's end file points at the shared filesystem", () => {
    expect(outcomeOfEndedJob({ ...job, state: "COMPLETED" })?.error).toMatch(
      /is the batch root on a filesystem that the nodes share\?/,
    );
  });
});

describe("parsing Slurm's output", () => {
  it("squeue lines of array tasks, pending ones expanded (-r), others skipped", () => {
    expect(parseSqueue("12|0|RUNNING|None\n12|1|PENDING|JobArrayTaskLimit\n13|N/A|COMPLETED|None\n")).toEqual(
      [
        { arrayJob: "12", task: 0, state: "RUNNING", reason: "None" },
        { arrayJob: "12", task: 1, state: "PENDING", reason: "JobArrayTaskLimit" },
      ],
    );
  });

  it("sbatch --parsable ids, with or without a cluster name", () => {
    expect(parseJobId("123\n")).toBe("123");
    expect(parseJobId("123;cluster\n")).toBe("123");
    expect(() => parseJobId("")).toThrow(/no job id/);
  });

  it("the nodes of a named or of the default partition", () => {
    const text =
      "PartitionName=long AllowGroups=ALL Default=NO TotalNodes=8 State=UP\nPartitionName=short AllowGroups=ALL Default=YES TotalNodes=3 State=UP\n";
    expect(partitionNodes(text, "long")).toBe(8);
    expect(partitionNodes(text, undefined)).toBe(3);
    expect(partitionNodes(text, "gpu")).toBeUndefined();
  });

  it("the first error line, without the command's name", () => {
    expect(
      slurmError(
        "sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed\n",
      ),
    ).toBe("invalid partition specified: nope");
  });
});
