// The `local` execenv: our answer to GNU parallel. Runs execute on this machine, exactly
// `--exec-jobs-per-node` at a time, each `bash -c` in its own process group, started by a
// small Python launcher (see python/launcher.py for why).
import { defineExecEnv, killGraceOption, z } from "@sierra-exec/core";
import { Launcher } from "./launcher.js";

export const localOptionsSchema = z.object({
  python: z
    .string()
    .default("python3")
    .meta({ env: "SIERRA_PYTHON", valueName: "PATH" })
    .describe("Python 3.9+ that hosts the run launcher"),
  killGrace: killGraceOption,
});

export default defineExecEnv({
  name: "local",
  aliases: ["hpc.local"],
  description: "Runs on this machine, N at a time, each run in its own process group (like GNU parallel)",
  options: localOptionsSchema,
  setupBatch: ({ options, jobs, core, executionId }) =>
    Launcher.start({ ...options, jobs, strict: core.execStrict, executionId }),
  execute: (runs, ctx) => ctx.state.execute(runs, ctx),
  teardownBatch: async (_ctx, launcher) => launcher?.close(),
});
