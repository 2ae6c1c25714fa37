// The slurm execenv's own options, declared once: flags, help and docs derive from this.
import { killGraceOption } from "@sierra-exec/core";
import { z } from "zod";

const word = (what: string) => z.string().regex(/^[^\s,]+$/, `must be one ${what}, without spaces or commas`);

export const slurmOptionsSchema = z.object({
  partition: word("partition name")
    .optional()
    .meta({ valueName: "NAME", defaultLabel: "the cluster's default partition" })
    .describe("Outside an allocation: the partition the runs' jobs go to (sbatch --partition)"),
  account: word("account name")
    .optional()
    .meta({ valueName: "NAME" })
    .describe("Outside an allocation: the account the runs are charged to (sbatch --account)"),
  qos: word("quality of service")
    .optional()
    .meta({ valueName: "NAME" })
    .describe("Outside an allocation: quality of service of the runs' jobs (sbatch --qos)"),
  time: z
    .string()
    .regex(/^[\d:-]+$/, "must be a Slurm time limit such as 30, 1:00:00 or 1-12:00:00")
    .optional()
    .meta({ valueName: "TIME" })
    .describe("Outside an allocation: time limit of each run (sbatch --time)"),
  memPerRun: z
    .string()
    .regex(/^\d+[KMGT]?$/i, "must be a size such as 500M or 4G")
    .optional()
    .meta({ valueName: "SIZE" })
    .describe("Memory of each run (--mem of its job or step)"),
  cpusPerRun: z
    .number()
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .default(1)
    .meta({ valueName: "N" })
    .describe("CPUs of each run (--cpus-per-task of its job or step)"),
  nodes: z
    .number()
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .optional()
    .meta({ valueName: "N", defaultLabel: "the partition's nodes" })
    .describe(
      "Outside an allocation: the nodes the batch may use; at most --exec-jobs-per-node times N runs at once",
    ),
  sbatchArgs: z
    .string()
    .optional()
    .meta({ valueName: "ARGS" })
    .describe("Outside an allocation: more sbatch options for the runs' jobs, separated by spaces"),
  jobNamePrefix: z
    .string()
    .regex(/^[\w.-]+$/, "must be letters, digits, '.', '_' or '-'")
    .default("sierra")
    .meta({ valueName: "NAME" })
    .describe("Start of the names of the jobs and steps the batch submits"),
  python: z
    .string()
    .default("python3")
    .meta({ env: "SIERRA_PYTHON", valueName: "PATH" })
    .describe("Python 3.6+ on the nodes (it hosts each run) and on this host (the watchdog)"),
  killGrace: killGraceOption,
});

export type SlurmOptions = z.output<typeof slurmOptionsSchema>;
