// The environment of a backend's helper processes (Prefect 3 or 1 servers, workers, agents):
// the caller's without the backend's own settings, plus the batch's isolation. Runs must see
// the caller's environment (the contract), so what was removed or replaced travels along in
// one variable that the Python side undoes before it starts a run.
import { EXECUTION_MARKER } from "./batch-guard.js";

/** JSON `{"prefix": P, "caller": {KEY: value or null}}`: drop every P* key, then set (null: unset) these. */
export const RESTORE_ENV = "SIERRA_RESTORE_ENV";

/** Names a file that holds what RESTORE_ENV would: for helpers on other hosts (see sierra_runs.caller_env). */
export const RESTORE_ENV_FILE = "SIERRA_RESTORE_ENV_FILE";

export interface Isolation {
  /** The backend's settings namespace, removed from the caller's environment: `PREFECT_`. */
  prefix: string;
  /** What the batch sets. */
  settings: Record<string, string>;
  /** Put in `SIERRA_EXEC_ID`, which the clean-up sweep looks for. */
  executionId: string;
  /** Variables the backend itself changes for what it starts: runs get the caller's values back. */
  keep?: string[];
}

/**
 * What a helper's environment lacks of the caller's, as RESTORE_ENV holds it: the caller's
 * `prefix*` values and the caller's values (null: unset) of what `settings` and `keep` change.
 */
export function callerRestore(
  caller: NodeJS.ProcessEnv,
  { prefix, settings, keep = [] }: Pick<Isolation, "prefix" | "settings" | "keep">,
): { prefix: string; caller: Record<string, string | null> } {
  const restore: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(caller)) {
    if (value !== undefined && key.startsWith(prefix)) restore[key] = value;
  }
  for (const key of [...Object.keys(settings), ...keep]) {
    if (!key.startsWith(prefix)) restore[key] = caller[key] ?? null;
  }
  return { prefix, caller: restore };
}

/** The full environment for a helper process (spawn it without extending the caller's). */
export function isolatedEnv(caller: NodeJS.ProcessEnv, isolation: Isolation): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(caller)) {
    if (value !== undefined && !key.startsWith(isolation.prefix)) env[key] = value;
  }
  return {
    ...env,
    ...isolation.settings,
    [EXECUTION_MARKER]: isolation.executionId,
    [RESTORE_ENV]: JSON.stringify(callerRestore(caller, isolation)),
  };
}
