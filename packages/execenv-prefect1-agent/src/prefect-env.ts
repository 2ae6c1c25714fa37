// Everything Prefect 1 touches for a batch lives under the batch's scratch area, and its
// settings come from the environment we give it, never from the user's ~/.prefect.
import path from "node:path";
import { isolatedEnv } from "@sierra-exec/core";

export interface BatchDirs {
  root: string;
  home: string;
  tmp: string;
  flows: string;
  pids: string;
}

export function batchDirs(batchRoot: string, executionId: string): BatchDirs {
  const root = path.join(batchRoot, "scratch", `.prefect1-${executionId}`);
  return {
    root,
    home: path.join(root, "home"),
    tmp: path.join(root, "tmp"),
    flows: path.join(root, "flows"),
    pids: path.join(root, "pids"),
  };
}

/** How often a flow runner reports it is alive; a flow run silent for 4 times that is presumed dead. */
export const HEARTBEAT_SECONDS = 10;

/**
 * The environment of Prefect 1 processes (agent, registration): the caller's without its
 * PREFECT__ settings, plus the batch's, marked with the execution id. The runs get the
 * caller's environment back (core's RESTORE_ENV, undone in python/sierra_prefect1.py).
 */
export function prefectEnv(
  caller: NodeJS.ProcessEnv,
  dirs: BatchDirs,
  endpoint: string,
  executionId: string,
): Record<string, string> {
  const settings: Record<string, string> = {
    HOME: dirs.home,
    TMPDIR: dirs.tmp,
    PYTHONUNBUFFERED: "1",
    // No __pycache__ in the package's python/ directory (it may be read-only, or in git).
    PYTHONDONTWRITEBYTECODE: "1",
    PREFECT__HOME_DIR: path.join(dirs.home, ".prefect"),
    PREFECT__USER_CONFIG_PATH: path.join(dirs.home, ".prefect", "config.toml"),
    PREFECT__BACKEND: "server",
    PREFECT__SERVER__ENDPOINT: endpoint,
    PREFECT__SERVER__TELEMETRY__ENABLED: "false",
    PREFECT__CLOUD__SEND_FLOW_RUN_LOGS: "true",
    // A heartbeat thread rather than a `prefect heartbeat` process, which outlives a killed runner.
    PREFECT__CLOUD__HEARTBEAT_MODE: "thread",
    PREFECT__CLOUD__HEARTBEAT_INTERVAL: String(HEARTBEAT_SECONDS),
    // How soon a flow runner notices a cancel (default 15 s).
    PREFECT__CLOUD__CHECK_CANCELLATION_INTERVAL: "2",
    PREFECT__LOGGING__LEVEL: "INFO",
  };
  // The agent puts the flow's directory (and --import-path) on the flow runs' PYTHONPATH:
  // runs get the caller's back.
  return isolatedEnv(caller, { prefix: "PREFECT__", settings, executionId, keep: ["PYTHONPATH"] });
}
