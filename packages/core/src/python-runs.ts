// What every execenv's Python side needs from core: the directory of core's Python modules
// (python/sierra_runs.py starts, reports and stops runs; python/watchdog.py) and a run as
// sierra_runs.py reads it.
import { commandBytes } from "./command-text.js";
import type { Run } from "./run.js";

/**
 * Core's python/ directory. An execenv puts it on its interpreter's sys.path (an argument,
 * a variable of its own that the runs do not get): never in PYTHONPATH, which runs inherit.
 */
export const CORE_PYTHON_DIR = new URL("../python", import.meta.url).pathname;

/** A run as python/sierra_runs.py reads it, sent as JSON. */
export interface RunSpec {
  /** `<exp>/run<i>`. */
  id: string;
  /**
   * The cmdfile line's exact bytes, in base64: plain ASCII, which every JSON parser, HTTP API
   * and database on the way keeps (Prefect's server refuses lone surrogates in a string).
   */
  commandBase64: string;
  cwd: string;
  /** Variables the run adds to the caller's environment. */
  env: Record<string, string>;
  /** Output files; null: discarded. */
  stdout: string | null;
  stderr: string | null;
}

export const runSpec = ({ id, command, cwd, env, stdout, stderr }: Run): RunSpec => ({
  id,
  commandBase64: commandBytes(command).toString("base64"),
  cwd,
  env,
  stdout,
  stderr,
});
