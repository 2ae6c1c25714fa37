// prefect.server's decisions, testable without a server: the names of what a batch creates
// (so that two users' batches on one server never collide), the deployment and its job
// variables, the environment the runs get on worker hosts, how many drains to create.
import { callerRestore, RESTORE_ENV_FILE } from "@sierra-exec/core";
import { SECRET_VARIABLES } from "./credentials.js";

/** Prefect names refuse `/`, `%`, `&`, `>`, `<`: keep letters, digits, `.`, `_`, `-`. */
const safe = (text: string) => text.replace(/[^\w.-]+/g, "_") || "_";

export interface Owner {
  user: string;
  host: string;
  executionId: string;
}

/** The batch's deployment: `<user>@<host>-<execution id>`, unique per invocation and readable in the UI. */
export const deploymentName = ({ user, host, executionId }: Owner) =>
  `${safe(user)}@${safe(host)}-${executionId}`;

/**
 * What the engine of each drain gets on top of its worker's environment: where core's Python
 * modules are (the copy in the batch root: nothing of ours is installed on worker hosts) and
 * the file with the caller's environment for the runs. No interpreter path: each worker host
 * starts its own Python. Not the batch's marker: only the runs carry it, so that a drain's
 * host watchdog may stop whatever carries it there (the runs' leftovers) if the drain dies.
 */
export const engineEnv = ({ flowDir, callerEnvFile }: { flowDir: string; callerEnvFile: string }) => ({
  SIERRA_CORE_PYTHON: flowDir,
  [RESTORE_ENV_FILE]: callerEnvFile,
  // The flow's files are on the shared filesystem: leave no bytecode next to them.
  PYTHONDONTWRITEBYTECODE: "1",
});

/**
 * The job variables of the batch's deployment. No `command`: the worker starts its own
 * interpreter's `-m prefect.engine` (a fixed command would name a Python that worker hosts
 * may not have). The engine's output stays out of the worker (it is in the API and the UI):
 * an engine writing to the pipe of a worker that was restarted would crash.
 */
export const jobVariables = (env: Record<string, string>, flowDir: string) => ({
  env,
  stream_output: false,
  working_dir: flowDir,
});

/**
 * The content of the caller's-environment file (core's RESTORE_ENV format): the runs on a
 * worker host get the CLI's environment, as Slurm's default `--export=ALL` gives, without the
 * worker's own PREFECT_* settings and without the caller's Prefect secrets.
 */
export function callerEnvFileContent(caller: NodeJS.ProcessEnv, engine: Record<string, string>): string {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(caller)) {
    if (value !== undefined && !(SECRET_VARIABLES as readonly string[]).includes(key)) env[key] = value;
  }
  const restore = callerRestore(env, { prefix: "PREFECT_", settings: engine });
  return JSON.stringify({ prefix: restore.prefix, caller: { ...env, ...restore.caller } });
}

/** What the follower knows of the batch's drains when it asks whether to create more. */
export interface DrainCensus {
  /** Workers of the pool with a recent heartbeat. */
  onlineWorkers: number;
  /** Drains that said hello and are neither gone nor dead. */
  liveDrains: number;
  /** Distinct hosts those drains serve. */
  servedHosts: number;
  /** Flow runs created (or being created) that have neither said hello nor ended. */
  pendingDrains: number;
  /** Runs of the open set that no drain has started. */
  unclaimedRuns: number;
  /** Drains that found their host already served, so far. */
  bounces: number;
  /** Drains created (or being created) so far. */
  created: number;
  /** Runs at once on one host (--exec-jobs-per-node). */
  jobs: number;
  /** Runs at once over all hosts (--total-jobs); 0: no cap. */
  totalJobs: number;
}

/** Bounces allowed per online worker before the batch stops asking for more hosts. */
export const BOUNCE_BUDGET_PER_WORKER = 5;

/**
 * How many drains to create now. The batch wants one host per online worker (at least one: a
 * worker may come later), but no more than the total cap keeps busy (--total-jobs 2 at 2 per
 * host: one host), and, beyond the hosts served or coming, no more than the waiting runs keep
 * busy. At the start, that many; later, while runs wait, one per missing host: a worker takes
 * every flow run it can, so several may land on one host and bounce; the budget keeps that
 * from churning forever. With no drain left at all (the last host died), one more, whatever
 * the budget.
 */
export function drainsToCreate(census: DrainCensus): number {
  const workers = Math.max(1, census.onlineWorkers);
  const busy = (runs: number) => Math.max(1, Math.ceil(runs / Math.max(1, census.jobs)));
  const hosts = Math.min(workers, census.totalJobs > 0 ? busy(census.totalJobs) : workers);
  const coming = census.servedHosts + census.pendingDrains;
  const more = Math.max(0, Math.min(hosts - coming, busy(census.unclaimedRuns)));
  if (census.created === 0) return more;
  if (census.unclaimedRuns === 0) return 0;
  if (census.liveDrains === 0 && census.pendingDrains === 0) return 1;
  if (census.bounces >= BOUNCE_BUDGET_PER_WORKER * workers) return 0;
  return more;
}

/** Prefect Cloud's API: other credentials (an API key) and no version to compare. */
export const isCloudUrl = (apiUrl: string) => /(^|\.)prefect\.cloud$/i.test(new URL(apiUrl).hostname);

/**
 * The UI that shows the batch's flow runs: a self-hosted server serves it beside its API;
 * Cloud's workspace API `https://api.prefect.cloud/api/accounts/A/workspaces/W` is shown at
 * `https://app.prefect.cloud/account/A/workspace/W`.
 */
export function uiUrlOf(apiUrl: string): string {
  const cloud = /^https:\/\/api\.prefect\.cloud\/api\/accounts\/([^/]+)\/workspaces\/([^/]+)/.exec(apiUrl);
  if (cloud) return `https://app.prefect.cloud/account/${cloud[1]}/workspace/${cloud[2]}`;
  return apiUrl.replace(/\/+$/, "").replace(/\/api$/, "");
}

/** The Prefect server versions this execenv is tested against: [from, below). */
export const TESTED_SERVERS = { from: "3.8.8", below: "3.10.0" } as const;

const parts = (version: string) =>
  version
    .split(/[.+-]/)
    .slice(0, 3)
    .map((part) => Number.parseInt(part, 10) || 0);
const compare = (a: string, b: string) => {
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};

/** `ok`, `untested` (3.x outside the tested range: a warning) or `unsupported` (not 3.x). */
export function serverVersionVerdict(version: string): "ok" | "untested" | "unsupported" {
  if (!/^3\./.test(version)) return "unsupported";
  return compare(version, TESTED_SERVERS.from) >= 0 && compare(version, TESTED_SERVERS.below) < 0
    ? "ok"
    : "untested";
}
