// prefect.server's own options, declared once: flags, help and the docs table derive from this.
// The secrets (the server's basic-auth string, a Cloud API key) are no options: they come from
// the environment or from a file named by an option, so that they never show in `ps`.
import { killGraceOption, z } from "@sierra-exec/core";

const seconds = (what: string, fallback: number) =>
  z
    .number()
    .positive("must be more than 0 seconds")
    .default(fallback)
    .meta({ valueName: "SECONDS" })
    .describe(what);

export const prefectServerOptionsSchema = z.object({
  prefectApiUrl: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL such as http://prefect.lab:4200/api" })
    .optional()
    .meta({ env: "PREFECT_API_URL", valueName: "URL" })
    .describe(
      "API of the Prefect 3 server (or Prefect Cloud workspace) that the workers serve, e.g. http://prefect.lab:4200/api",
    ),
  prefectApiAuthStringFile: z
    .string()
    .optional()
    .meta({ valueName: "FILE", defaultLabel: "PREFECT_API_AUTH_STRING from the environment" })
    .describe(
      "A file holding the self-hosted server's basic-auth string (user:password, as PREFECT_SERVER_API_AUTH_STRING on the server)",
    ),
  prefectApiKeyFile: z
    .string()
    .optional()
    .meta({ valueName: "FILE", defaultLabel: "PREFECT_API_KEY from the environment" })
    .describe("A file holding a Prefect Cloud API key"),
  workPool: z
    .string()
    .regex(/^[\w.-]+$/, "must be letters, digits, '.', '_' or '-'")
    .default("sierra-pool")
    .meta({ valueName: "NAME" })
    .describe(
      "Work pool whose workers run the batch; created as a process pool if missing, never changed if it exists",
    ),
  totalJobs: z
    .number()
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .optional()
    .meta({ valueName: "N", defaultLabel: "no cap: --exec-jobs-per-node on every worker host" })
    .describe(
      "At most N runs at once over all worker hosts together (each host still at most --exec-jobs-per-node)",
    ),
  pickupTimeout: seconds(
    "Runs that no worker takes within this time end as failed (exit 1; --exec-resume runs them again)",
    60,
  ),
  drainTimeout: seconds(
    "A worker host silent for this long is taken as dead: its runs go to the other hosts",
    20,
  ),
  python: z
    .string()
    .default("python3")
    .meta({ env: "SIERRA_PYTHON", valueName: "PATH" })
    .describe("Python 3 on this host, for the batch's watchdog (this host needs no Prefect)"),
  killGrace: killGraceOption,
});

export type PrefectServerOptions = z.output<typeof prefectServerOptionsSchema>;
