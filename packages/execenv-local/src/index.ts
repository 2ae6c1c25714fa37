// The `local` execenv: our answer to GNU parallel. Runs execute on this machine, exactly
// `--exec-jobs-per-node` at a time, each `bash -c` in its own process group.
import { defineExecEnv, SierraError } from "@sierra-exec/core";
import { execa } from "execa";
import { z } from "zod";
import { runWithLauncher } from "./launcher.js";

export const localOptionsSchema = z.object({
  python: z
    .string()
    .default("python3")
    .meta({ env: "SIERRA_PYTHON", valueName: "PATH" })
    .describe("Python 3.9+ that hosts the run launcher"),
  killGrace: z
    .number()
    .min(0, "must be 0 or more seconds")
    .default(2)
    .meta({ valueName: "SECONDS" })
    .describe("When runs are stopped: seconds between TERM and KILL of their process groups"),
});

export default defineExecEnv({
  name: "local",
  aliases: ["hpc.local"],
  description: "Runs on this machine, N at a time, each run in its own process group (like GNU parallel)",
  options: localOptionsSchema,
  async check({ options }) {
    const probe = await execa(options.python, ["-c", "import sys; sys.exit(sys.version_info < (3, 9))"], {
      reject: false,
    });
    if (probe.exitCode !== 0) {
      throw new SierraError(
        `the local execenv needs Python 3.9+ (tried ${JSON.stringify(options.python)}): install python3 or pass --python PATH`,
      );
    }
  },
  execute: runWithLauncher,
});
