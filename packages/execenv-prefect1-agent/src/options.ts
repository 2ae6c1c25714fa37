// The options of the prefect1.localagent execenv, named as Prefect 1's local agent names
// them where there is a counterpart (`prefect agent local start -l/-e/-p/-f`).
import { killGraceOption, SierraError, z } from "@sierra-exec/core";

const list = (separator: string) => (value: string) =>
  value
    .split(separator)
    .map((item) => item.trim())
    .filter(Boolean);

export const prefect1OptionsSchema = z.object({
  prefect1Api: z
    .url({ protocol: /^https?$/, error: "must be the http(s) URL of a Prefect Server 1 GraphQL API" })
    .optional()
    .meta({ env: "SIERRA_PREFECT1_API", valueName: "URL" })
    .describe(
      "A Prefect Server 1 you run (e.g. http://127.0.0.1:4200/graphql) instead of the embedded backend",
    ),
  labels: z
    .string()
    .default("")
    .transform(list(","))
    .meta({ valueName: "L1,L2", defaultLabel: "none" })
    .describe("Labels the flow runs carry (and a started agent serves), besides one unique to the batch"),
  showFlowLogs: z.boolean().default(false).describe("Stream the flow runs' logs to the console"),
  env: z
    .string()
    .default("")
    .transform(list(","))
    .pipe(
      z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=/, "must be KEY=VALUE pairs separated by commas")),
    )
    .transform((pairs) =>
      Object.fromEntries(
        pairs.map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
      ),
    )
    .meta({ valueName: "K=V,...", defaultLabel: "none" })
    .describe("Extra environment variables for the flow runs and their runs"),
  importPaths: z
    .string()
    .default("")
    .transform(list(":"))
    .meta({ valueName: "DIR:...", defaultLabel: "none" })
    .describe("Directories added to the flow runs' PYTHONPATH"),
  agentRunning: z
    .boolean()
    .default(false)
    .describe(
      "Use a local agent that already runs (e.g. under supervisord) instead of starting one; needs --prefect1-api and --labels it serves",
    ),
  prefect1Python: z
    .string()
    .optional()
    .meta({ env: "SIERRA_PREFECT1_PYTHON", valueName: "PATH" })
    .describe(
      "A Python with Prefect 1 installed; by default Prefect 1.4.1 is provisioned once into a managed venv",
    ),
  python: z
    .string()
    .default("python3")
    .meta({ env: "SIERRA_PYTHON", valueName: "PATH" })
    .describe("Python 3.9+ that creates the managed Prefect 1 venv"),
  pollOnly: z
    .boolean()
    .default(false)
    .describe("Do not poke the agent after creating a flow run: it finds it on its next poll (up to 10 s)"),
  killGrace: killGraceOption,
});

export type Prefect1Options = z.output<typeof prefect1OptionsSchema>;

/** Combinations the schema cannot express; throws a one-line SierraError. */
export function checkOptions(options: Prefect1Options): void {
  if (!options.agentRunning) return;
  if (!options.prefect1Api || options.labels.length === 0) {
    throw new SierraError(
      "--agent-running needs --prefect1-api (the server your agent polls) and --labels (labels it serves)",
    );
  }
  if (options.showFlowLogs || options.importPaths.length > 0) {
    throw new SierraError(
      "--show-flow-logs and --import-paths apply to an agent sierra starts: set them on your running agent instead",
    );
  }
}
