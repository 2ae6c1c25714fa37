// The environment of every Prefect process the execenv starts (server, and the flow engines,
// which pass it on to the runs): isolated from the caller's Prefect configuration
// and profile, marked for clean-up, with the caller's own values kept for the runs.
import { CORE_PYTHON_DIR, isolatedEnv } from "@sierra-exec/core";

export interface IsolationSettings {
  /** PREFECT_HOME: profiles, settings and local storage of this batch only. */
  home: string;
  /** The batch's SQLite database. */
  database: string;
  /** Base URL of the server's API, `http://127.0.0.1:<port>/api`. */
  apiUrl: string;
  executionId: string;
}

export type Role = "server" | "engine" | "tool";

/** Set for every role: isolation, no telemetry, no prompts. */
function isolation({ home, database, apiUrl }: IsolationSettings): Record<string, string> {
  return {
    PREFECT_HOME: home,
    PREFECT_PROFILES_PATH: `${home}/profiles.toml`,
    PREFECT_API_DATABASE_CONNECTION_URL: `sqlite+aiosqlite:///${database}`,
    PREFECT_API_URL: apiUrl,
    PREFECT_SERVER_ANALYTICS_ENABLED: "false",
    PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT: "false",
    PREFECT_CLI_PROMPT: "false",
    PREFECT_CLI_COLORS: "false",
    // The Python SDK's telemetry.
    DO_NOT_TRACK: "1",
  };
}

const ROLE: Record<Role, Record<string, string>> = {
  server: {
    // A run cancelled while its engine boots stays CANCELLING until this timeout (default 300 s).
    PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_CANCELLING_TIMEOUT_SECONDS: "30",
    // The template database is migrated and has the block types (templateDatabase): about
    // 1 s less per start.
    PREFECT_SERVER_DATABASE_MIGRATE_ON_START: "false",
    PREFECT_SERVER_REGISTER_BLOCKS_ON_START: "false",
    // Services a batch's server has no use for: automations (whose start-up holds the server
    // back), schedules, late and paused runs. The UI still shows everything.
    PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED: "false",
    PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED: "false",
    PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED: "false",
    PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED: "false",
  },
  engine: {
    // Engines import python/flow.py where the package is installed: leave no bytecode there.
    PYTHONDONTWRITEBYTECODE: "1",
    // Where python/flow.py finds core's sierra_runs (not in PYTHONPATH: runs would inherit it).
    SIERRA_CORE_PYTHON: CORE_PYTHON_DIR,
  },
  tool: {},
};

/**
 * The full environment for a Prefect process of the batch (spawn it with `extendEnv: false`):
 * the caller's without any PREFECT_*, plus the isolation, marked with the execution id. The
 * runs get the caller's environment back (core's RESTORE_ENV, undone in python/flow.py).
 */
export const prefectEnv = (caller: NodeJS.ProcessEnv, settings: IsolationSettings, role: Role) =>
  isolatedEnv(caller, {
    prefix: "PREFECT_",
    settings: { ...isolation(settings), ...ROLE[role] },
    executionId: settings.executionId,
  });
