// Finds the Python that hosts Prefect: --prefect-python (or SIERRA_PREFECT_PYTHON), else the
// user's own Prefect (the `prefect` on PATH, then the active Python) if its version is in the
// tested range, else a managed install of the default version in the user's cache
// directory. Also keeps a template database per install, so that a batch's server starts
// without running every migration (about 5 s instead of 12 s) or registering block types.
import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { satisfies } from "@renovatebot/pep440";
import {
  cacheDir,
  ensurePythonEnv,
  type Logger,
  lastLine,
  type PythonEnvSpec,
  SierraError,
} from "@sierra-exec/core";
import { type IsolationSettings, prefectEnv } from "./prefect-env.js";

/**
 * The Prefects this execenv is tested with, each with the fastapi its server starts with
 * (3.8.8's fails with fastapi 0.155 or later, `min_items`; 3.9.1 wants fastapi<0.151).
 * 3.9.0 does not install (certifi pin).
 */
export const TESTED_PREFECTS = { "3.8.8": "0.154.0", "3.9.1": "0.150.0" } as const;
export type TestedPrefect = keyof typeof TESTED_PREFECTS;

/** The managed default: the newest that works. */
export const PREFECT_VERSION: TestedPrefect = "3.9.1";

/** A user's Prefect in this range is used as it is (PEP 440 specifier; pre-releases are out). */
export const PREFECT_RANGE = ">=3.8.8,<3.10";
export const PREFECT_RANGE_TEXT = "3.8.8-3.9.x";

export const inTestedRange = (version: string) => satisfies(version, PREFECT_RANGE);

/** A managed venv per version: caches of other versions stay apart. */
export const prefectSpec = (version: TestedPrefect): PythonEnvSpec => ({
  name: `prefect-${version}`,
  requirements: [`prefect==${version}`],
  constraints: `fastapi==${TESTED_PREFECTS[version]}\n`,
});

export const PREFECT_SPEC = prefectSpec(PREFECT_VERSION);

export interface PrefectInstall {
  /** The interpreter: `python -m prefect` and `python -m prefect.engine`. */
  python: string;
  version: string;
  from: "option" | "PATH" | "active Python" | "managed";
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

/** The active Python: the virtual environment's if one is active, else `python3` on PATH. */
export const activePython = (env: NodeJS.ProcessEnv = process.env) =>
  env.VIRTUAL_ENV ? path.join(env.VIRTUAL_ENV, "bin", "python") : "python3";

const FIX = `pass --prefect-python PATH (a Python with Prefect ${PREFECT_RANGE_TEXT}), or leave it out to have Prefect ${PREFECT_VERSION} installed in ${cacheDir()}`;

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
    if (!inTestedRange(version)) {
      throw new SierraError(
        `--prefect-python ${option} has Prefect ${version}, outside the tested range ${PREFECT_RANGE_TEXT}; ${FIX}`,
      );
    }
    return { python: option, version, from: "option" };
  }
  const candidates: Array<[PrefectInstall["from"], string | undefined]> = [
    ["PATH", prefectOnPath()],
    ["active Python", activePython()],
  ];
  const seen = new Set<string>();
  for (const [from, python] of candidates) {
    if (!python || seen.has(python)) continue;
    seen.add(python);
    const version = await prefectVersion(python).catch(() => undefined);
    if (version && inTestedRange(version)) return { python, version, from };
    if (!version) log.debug(`no usable Prefect in ${python} (${from})`);
    else {
      log.info(
        `Prefect ${version} in ${python} (${from}) is outside the tested range ${PREFECT_RANGE_TEXT}; using the managed ${PREFECT_VERSION}`,
      );
    }
  }
  const env = await ensurePythonEnv(PREFECT_SPEC, { log, signal });
  return { python: env.python, version: PREFECT_VERSION, from: "managed" };
}

const REGISTER_BLOCKS = new URL("../python/register_blocks.py", import.meta.url).pathname;

/**
 * A database as a server leaves it at start-up: migrated to `install`'s schema (`prefect
 * server database upgrade`) and with the block types registered (python/register_blocks.py),
 * made once per install in the cache directory, in a throw-away PREFECT_HOME. Batches'
 * servers then skip both.
 */
export async function templateDatabase(install: PrefectInstall, { log }: { log: Logger }): Promise<string> {
  const dir = path.join(cacheDir(), "prefect-db");
  // Per install, not only per version: the blocks of installed collections differ.
  const key = createHash("sha256").update(install.python).digest("hex").slice(0, 8);
  const template = path.join(dir, `prefect-${install.version}-${key}.db`);
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
  log.debug(`making a template database for Prefect ${install.version} in ${template}`);
  const { execa } = await import("execa");
  const step = async (what: string, args: string[]) => {
    const outcome = await execa(install.python, args, {
      env: prefectEnv(process.env, settings, "tool"),
      extendEnv: false,
      reject: false,
      stdin: "ignore",
      all: true,
      timeout: 300_000,
    });
    if (outcome.exitCode !== 0 || !existsSync(database)) {
      const last = lastLine(String(outcome.all ?? outcome.shortMessage ?? ""));
      throw new SierraError(
        `Prefect ${install.version} at ${install.python} is broken: ${what} failed (${last}); ${FIX}`,
      );
    }
  };
  await step("its database migration", ["-m", "prefect", "server", "database", "upgrade", "-y"]);
  await step("registering its block types", [REGISTER_BLOCKS]);
  // Concurrent batches may both make one: each renames a complete file into place.
  renameSync(database, template);
  rmSync(work, { recursive: true, force: true });
  return template;
}
