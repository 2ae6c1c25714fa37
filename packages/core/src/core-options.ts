// The execution options every execenv shares (the contract's command line), declared once.
import { availableParallelism } from "node:os";
import { z } from "zod";

export const EXP_RANGE_PATTERN = /^(\d*):(\d*)$/;

export const coreOptionsSchema = z.object({
  execenv: z
    .string()
    .default("local")
    .meta({ valueName: "NAME", env: "SIERRA_EXECENV" })
    .describe(
      "Execution environment that runs the batch: a built-in, an installed package (foo: @sierra-exec/execenv-foo or sierra-execenv-foo) or a module path (see `sierra execenvs`)",
    ),
  batchRoot: z
    .string({ error: "is required: name the batch to run, e.g. --batch-root path/to/batch" })
    .min(1)
    .meta({ valueName: "DIR" })
    .describe("Batch root in SIERRA stage-1 layout (exp-inputs/<exp>/commands.txt)"),
  execJobsPerNode: z
    .number()
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .default(() => availableParallelism())
    .meta({ valueName: "N", defaultLabel: "number of CPUs" })
    .describe("At most N runs execute at the same moment"),
  execParallelismParadigm: z
    .enum(["per-batch", "per-exp"])
    .default("per-batch")
    .describe("One pool for all experiments, or experiments one after another"),
  expRange: z
    .string()
    .regex(EXP_RANGE_PATTERN, "must be A:B (0-based, inclusive), A: or :B")
    .optional()
    .meta({ valueName: "A:B" })
    .describe("Run experiments A..B only (0-based, inclusive)"),
  execResume: z
    .boolean()
    .default(false)
    .describe("Skip runs whose last record succeeded; run every other one"),
  execStrict: z
    .boolean()
    .default(false)
    .describe("At the first failed run: start no new run, stop the running ones, exit 1"),
  execDevnull: z.boolean().default(false).describe("Discard runs' stdout/stderr instead of keeping them"),
  dryRun: z
    .boolean()
    .default(false)
    .describe("Print the runs that would execute, one per line, and run nothing"),
});

export type CoreOptions = z.output<typeof coreOptionsSchema>;
