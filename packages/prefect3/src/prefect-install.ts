// Finds the Python that hosts Prefect: --prefect-python (or SIERRA_PREFECT_PYTHON), else the
// `prefect` on PATH if it is the tested version, else a managed install in the user's cache
// directory. Also keeps a migrated template database per Prefect version, so that a
// batch's server starts without running every migration (about 5 s instead of 12 s).
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import {
  cacheDir,
  ensurePythonEnv,
  type Logger,
  lastLine,
  type PythonEnvSpec,
  SierraError,
} from "@sierra-exec/core";
import { type IsolationSettings, prefectEnv } from "./prefect-env.js";

/** The Prefect this execenv is tested with. 3.9.0-3.9.1 do not install (certifi pin). */
export const PREFECT_VERSION = "3.8.8";

/** Prefect 3.8.8's server fails at start-up with fastapi 0.155 or later (`min_items`). */
export const PREFECT_SPEC: PythonEnvSpec = {
  name: "prefect3",
  requirements: [`prefect==${PREFECT_VERSION}`],
  constraints: "fastapi==0.154.0\n",
};

export interface PrefectInstall {
  /** The interpreter: `python -m prefect` and `python -m prefect.engine`. */
  python: string;
  version: string;
  from: "option" | "PATH" | "managed";
}

/** The version of Prefect `python` can import, without importing it (that takes seconds). */
export async function prefectVersion(python: string): Promise<string> {
  const { execa } = await import("execa");
  const probe = await execa(python, ["-c", "import importlib.metadata as m; print(m.version('prefect'))"], {
    reject: false,
    timeout: 60_000,
    stdin: "ignore",
  });
  if (probe.exitCode === 0) return probe.stdout.trim();
  const why = probe.failed && probe.exitCode === undefined ? probe.shortMessage : probe.stderr;
  const last = lastLine(String(why ?? ""));
  throw new Error(/PackageNotFoundError/.test(last) ? "Prefect is not installed there" : last);
}

/** The interpreter named by the `#!` line of the `prefect` script on PATH, if any. */
export function prefectOnPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, "prefect");
    try {
      accessSync(file, constants.X_OK);
      const shebang = readFileSync(file, "latin1").slice(0, 512).split("\n")[0] ?? "";
      const interpreter = /^#!\s*(\S*python[\d.]*)\s*$/.exec(shebang)?.[1];
      if (interpreter) return interpreter;
    } catch {
      // not there, or not a script we understand
    }
  }
  return undefined;
}

const FIX = `pass --prefect-python PATH (a Python with prefect==${PREFECT_VERSION} and fastapi==0.154.0 installed), or leave it out to have Prefect installed in ${cacheDir()}`;

export async function findPrefect(
  option: string | undefined,
  { log, signal }: { log: Logger; signal: AbortSignal },
): Promise<PrefectInstall> {
  if (option) {
    let version: string;
    try {
      version = await prefectVersion(option);
    } catch (error) {
      throw new SierraError(`--prefect-python ${option}: ${(error as Error).message}; ${FIX}`);
    }
    if (!version.startsWith("3.")) {
      throw new SierraError(`--prefect-python ${option} has Prefect ${version}, not 3.x; ${FIX}`);
    }
    if (version !== PREFECT_VERSION) log.warn(`Prefect ${version} is untested; ${PREFECT_VERSION} is tested`);
    return { python: option, version, from: "option" };
  }
  const onPath = prefectOnPath();
  if (onPath) {
    const version = await prefectVersion(onPath).catch(() => "");
    if (version === PREFECT_VERSION) return { python: onPath, version, from: "PATH" };
    log.debug(`prefect on PATH (${onPath}) is ${version || "unusable"}, not ${PREFECT_VERSION}`);
  }
  const env = await ensurePythonEnv(PREFECT_SPEC, { log, signal });
  return { python: env.python, version: PREFECT_VERSION, from: "managed" };
}

/**
 * A database migrated to `install`'s schema, made once per version in the cache directory
 * (`prefect server database upgrade`, in a throw-away PREFECT_HOME).
 */
export async function templateDatabase(install: PrefectInstall, { log }: { log: Logger }): Promise<string> {
  const dir = path.join(cacheDir(), "prefect-db");
  const template = path.join(dir, `prefect-${install.version}.db`);
  if (existsSync(template)) return template;
  mkdirSync(dir, { recursive: true });
  const work = path.join(dir, `.new-${process.pid}-${Date.now()}`);
  mkdirSync(work);
  const database = path.join(work, "prefect.db");
  const settings: IsolationSettings = {
    home: path.join(work, "home"),
    database,
    apiUrl: "http://127.0.0.1:9/api",
    executionId: "template",
  };
  log.debug(`migrating a template database for Prefect ${install.version} into ${template}`);
  const { execa } = await import("execa");
  const upgrade = await execa(install.python, ["-m", "prefect", "server", "database", "upgrade", "-y"], {
    env: prefectEnv(process.env, settings, "tool"),
    extendEnv: false,
    reject: false,
    stdin: "ignore",
    all: true,
    timeout: 300_000,
  });
  if (upgrade.exitCode !== 0 || !existsSync(database)) {
    const last = lastLine(String(upgrade.all ?? upgrade.shortMessage ?? ""));
    throw new SierraError(
      `Prefect ${install.version} at ${install.python} is broken: its database migration failed (${last}); ${FIX}`,
    );
  }
  // Concurrent batches may both make one: each renames a complete file into place.
  renameSync(database, template);
  rmSync(work, { recursive: true, force: true });
  return template;
}
