// What every execenv's Python side needs from core: the directory of core's Python modules
// (python/sierra_runs.py starts, reports and stops runs; python/watchdog.py) and a run as
// sierra_runs.py reads it; and, for execenvs written in Node, one run started through it.
import { spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { commandBytes } from "./command-text.js";
import type { RunOutcome } from "./exec-env.js";
import { OutputTail } from "./helper-process.js";
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

export interface StartedRun {
  /** The run's pid, also its process group's id; absent when it could not start. */
  pid?: number;
  /** Its end: the exit code, or the signal by bash's name (`SIGRTMIN+1`), or why it never started. */
  outcome: Promise<RunOutcome>;
}

/**
 * Starts one run with `bash -c` in a session of its own, through python/sierra_runs.py:
 * Node's child_process cannot pass a command's bytes that are not UTF-8, and reports a run
 * ended by a real-time signal as exit 0. Resolves once the run has started (stop it with
 * `stopProcessGroup(pid)`) or could not. The run's environment is this process's plus its own.
 */
export async function startRun(
  run: Run,
  { python = "python3" }: { python?: string } = {},
): Promise<StartedRun> {
  const child = spawn(python, ["-S", path.join(CORE_PYTHON_DIR, "sierra_runs.py")], { stdio: "pipe" });
  const stderr = new OutputTail();
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  let failure = "";
  // An outcome is final once the helper is gone too: nothing of the run's is left then.
  const closed = new Promise<void>((resolve) => {
    child.once("close", () => resolve());
    child.once("error", (error) => {
      failure = `${python}: ${error.message}`;
      resolve();
    });
  });
  child.stdin.on("error", () => {}); // a Python that could not start: reported below
  child.stdin.end(`${JSON.stringify({ ...runSpec(run), callerEnv: process.env })}\n`);
  const messages = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const { value, done } = await messages.next();
    if (!done) return JSON.parse(value);
    await closed;
    return {
      error: `python/sierra_runs.py ended without a report: ${failure || stderr.lastLine() || `status ${child.exitCode}`}`,
    };
  };
  const notRun = (error: unknown): RunOutcome => ({ exitCode: null, signal: null, error: String(error) });
  const first = await next();
  if (typeof first.started !== "number") return { outcome: closed.then(() => notRun(first.error)) };
  const outcome = Promise.all([next(), closed]).then(([end]) =>
    "error" in end
      ? notRun(end.error)
      : { exitCode: (end.code as number | null) ?? null, signal: (end.signal as string | null) ?? null },
  );
  return { pid: first.started, outcome };
}
