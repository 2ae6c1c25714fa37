// Managed Python virtual environments for execenvs built on a Python package (Prefect):
// made once under the user's cache directory, named by a hash of what they hold, safe
// when several batches provision the same one at the same time.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SierraError } from "./errors.js";
import type { Logger } from "./exec-env.js";
import { fileTail, lastLine } from "./helper-process.js";

export interface PythonEnvSpec {
  /** Short name for the directory and messages, e.g. `prefect3`. */
  name: string;
  /** pip requirement specifiers, e.g. `prefect==3.4.0`. */
  requirements: string[];
  /** Contents of a pip constraints file, if the requirements need pinning to install. */
  constraints?: string;
  /** Interpreter that creates the environment (default `python3`). */
  python?: string;
}

export interface PythonEnv {
  dir: string;
  /** The environment's interpreter. */
  python: string;
  /** The environment's bin directory, where its console scripts are. */
  bin: string;
}

/** `$SIERRA_CACHE_DIR`, else `$XDG_CACHE_HOME/sierra-exec`, else `~/.cache/sierra-exec`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SIERRA_CACHE_DIR) return env.SIERRA_CACHE_DIR;
  return path.join(env.XDG_CACHE_HOME || path.join(homedir(), ".cache"), "sierra-exec");
}

const COMPLETE = ".sierra-complete";

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const readFileSyncOr = (file: string) => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
};

/** Holds `lock` (a directory, created atomically) while `work` runs; waits for a live holder. */
async function withLock<T>(lock: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(path.join(lock, "pid"), String(process.pid));
      break;
    } catch {
      const holder = Number(readFileSyncOr(path.join(lock, "pid")) || 0);
      if (holder && !pidAlive(holder)) rmSync(lock, { recursive: true, force: true });
      else await sleep(250, undefined, signal ? { signal } : {});
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Returns the environment for `spec`, creating it with `python -m venv` and pip first if
 * needed: one progress line on `log`, naming the file that takes the output of venv and
 * pip (`<dir>.log`). Throws a SierraError naming what failed and that file.
 */
export async function ensurePythonEnv(
  spec: PythonEnvSpec,
  { log, signal, env = process.env }: { log: Logger; signal?: AbortSignal; env?: NodeJS.ProcessEnv },
): Promise<PythonEnv> {
  const python = spec.python ?? "python3";
  const key = createHash("sha256")
    .update(JSON.stringify([spec.requirements, spec.constraints ?? "", python]))
    .digest("hex")
    .slice(0, 12);
  const dir = path.join(cacheDir(env), "venvs", `${spec.name}-${key}`);
  const result = { dir, python: path.join(dir, "bin", "python"), bin: path.join(dir, "bin") };
  if (existsSync(path.join(dir, COMPLETE))) return result;

  mkdirSync(path.dirname(dir), { recursive: true });
  return withLock(
    `${dir}.lock`,
    async () => {
      if (existsSync(path.join(dir, COMPLETE))) return result;
      rmSync(dir, { recursive: true, force: true });
      const { execa } = await import("execa");
      const logFile = `${dir}.log`;
      writeFileSync(logFile, "");
      const step = async (what: string, file: string, args: string[]) => {
        const output = { file: logFile, append: true } as const;
        const outcome = await execa(file, args, {
          stdin: "ignore",
          stdout: output,
          stderr: output,
          reject: false,
          ...(signal ? { cancelSignal: signal } : {}),
        });
        if (outcome.exitCode !== 0) {
          const why = lastLine(fileTail(logFile)) || (outcome.shortMessage ?? "").split("\n")[0];
          throw new SierraError(
            `could not provision ${spec.name} into ${dir}: ${what} failed (${why}; all its output in ${logFile}): check that ${python} works and PyPI is reachable, or point the execenv at an existing installation`,
          );
        }
      };
      await step("creating the virtual environment", python, ["-m", "venv", dir]);
      // Announced once the interpreter has proven usable: a bad one is a single error line.
      log.info(`provisioning ${spec.requirements.join(" ")} into ${dir} (once; pip's output in ${logFile})`);
      const args = ["-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"];
      if (spec.constraints) {
        const file = path.join(dir, "constraints.txt");
        writeFileSync(file, spec.constraints);
        args.push("-c", file);
      }
      await step("pip install", result.python, [...args, ...spec.requirements]);
      writeFileSync(path.join(dir, COMPLETE), `${JSON.stringify(spec)}\n`);
      return result;
    },
    signal,
  );
}
