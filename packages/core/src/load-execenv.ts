// Resolves what `--execenv` names to a plugin: a registered (built-in) execenv, an
// installed package, or a module path. A third-party plugin is checked before it is used:
// its peer range on @sierra-exec/core (before importing it), its plugin API version and
// the shape of its default export. Every refusal is one SierraError line.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { resolve as resolveImport } from "import-meta-resolve";
import semver from "semver";
import { z } from "zod";
import { capabilitiesSchema } from "./capabilities.js";
import { SierraError } from "./errors.js";
import { CORE_VERSION, type ExecEnv, PLUGIN_API_VERSION } from "./exec-env.js";
import {
  execenvNameSchema,
  findInstalledExecEnvs,
  type PackageJson,
  packageCandidates,
  readPackageJson,
} from "./execenv-packages.js";
import type { ExecEnvRegistry, RegisteredExecEnv } from "./registry.js";

const CORE_PACKAGE = "@sierra-exec/core";

export interface LoadExecEnvSettings {
  /** Tried first (the built-ins); a loaded plugin is registered here, so its names must be free. */
  registry: ExecEnvRegistry;
  /** Directories to resolve packages from, in order: the user's project first, then the CLI's own install. */
  from: readonly string[];
  /** Base of relative module paths. */
  cwd: string;
}

/**
 * SIERRA's own execenvs (sierra-research 1.5.16, sierra/plugins/execenv/): a name of
 * these that no built-in or installed package takes is one we do not ship, not a package
 * to install.
 */
const SIERRA_EXECENVS = [
  "hpc.local",
  "hpc.slurm",
  "hpc.pbs",
  "hpc.adhoc",
  "hpc.awsbatch",
  "prefectserver.local",
  "prefectserver.dockerremote",
  "robot.turtlebot3",
];

/** `./env.mjs`, `../x/env.js`, `/abs/env.js`, or anything ending in .js, .mjs or .cjs. */
const MODULE_PATH = /^(\.{1,2}[\\/]|[\\/])|\.[cm]?js$/;

const isFunction = (value: unknown) => typeof value === "function";
const received = (input: unknown) =>
  input === null ? "null" : Array.isArray(input) ? "array" : typeof input;
const hook = z.custom<(...args: never[]) => unknown>(isFunction, {
  error: (issue) => `expected a function, received ${received(issue.input)}`,
});

/** What a plugin's default export must look like; `defineExecEnv` produces it. */
const execEnvShapeSchema = z.looseObject({
  apiVersion: z.number().int(),
  name: execenvNameSchema,
  aliases: z.array(execenvNameSchema).optional(),
  description: z.string().min(1, "must say in one line what the execenv runs on"),
  options: z.custom<z.ZodObject>((value) => value instanceof z.ZodObject, {
    error: (issue) => `expected a zod object schema (z.object({...})), received ${received(issue.input)}`,
  }),
  capabilities: capabilitiesSchema.prefault({}),
  check: hook.optional(),
  setupBatch: hook.optional(),
  setupExperiment: hook.optional(),
  execute: hook,
  teardownExperiment: hook.optional(),
  teardownBatch: hook.optional(),
});

/**
 * Resolves `spec`, in order: a name or alias in `registry`; an installed package (`foo`
 * is `@sierra-exec/execenv-foo`, then `sierra-execenv-foo`; a full name as it is; else a
 * package whose `sierra` metadata names `foo`), looked up from each of `from`; a module
 * path, relative to `cwd`.
 */
export async function loadExecEnv(spec: string, settings: LoadExecEnvSettings): Promise<RegisteredExecEnv> {
  const registered = settings.registry.find(spec);
  if (registered) return registered;
  const entry = MODULE_PATH.test(spec)
    ? await loadModule(spec, settings.cwd)
    : await loadPackage(spec, settings);
  settings.registry.register(entry);
  return entry;
}

interface LocatedPackage {
  pkg: PackageJson;
  entry: string;
}

/** The first of `candidates` that resolves from the first of `from` that has one: the user's project wins. */
function locatePackage(candidates: readonly string[], from: readonly string[]): LocatedPackage | undefined {
  for (const base of from) {
    for (const packageName of candidates) {
      let entry: string;
      try {
        entry = resolveImport(packageName, pathToFileURL(path.join(base, "index.js")).href);
      } catch (error) {
        const { code, message } = error as NodeJS.ErrnoException;
        if (code === "ERR_MODULE_NOT_FOUND" && message.includes(`'${packageName}'`)) continue;
        throw new SierraError(
          `execenv package ${packageName} is installed but cannot be imported: ${firstLine(message)}`,
          { cause: error },
        );
      }
      let dir = path.dirname(fileURLToPath(entry));
      for (; readPackageJson(dir)?.name !== packageName; dir = path.dirname(dir)) {
        if (path.dirname(dir) === dir)
          throw new SierraError(`execenv package ${packageName} has no package.json`);
      }
      return { pkg: readPackageJson(dir) as PackageJson, entry };
    }
  }
  return undefined;
}

async function loadPackage(
  spec: string,
  { registry, from }: LoadExecEnvSettings,
): Promise<RegisteredExecEnv> {
  const candidates = packageCandidates(spec);
  let located = locatePackage(candidates, from);
  // A package outside the naming convention that declares the name in its metadata.
  const declared = located
    ? undefined
    : findInstalledExecEnvs(from).find(({ name, aliases }) => name === spec || aliases.includes(spec));
  if (declared) located = locatePackage([declared.packageName], from);
  if (!located) {
    const builtins = registry.list().flatMap(({ execenv }) => [execenv.name, ...(execenv.aliases ?? [])]);
    if (SIERRA_EXECENVS.includes(spec)) {
      const ours = registry
        .list()
        .map(
          ({ execenv }) =>
            `${execenv.name}${execenv.aliases?.length ? ` (${execenv.aliases.join(", ")})` : ""}`,
        );
      throw new SierraError(
        `execenv ${spec} is one of SIERRA's, which sierra-exec does not ship: use one of ${ours.join(", ")}, or write one (sierra new execenv NAME)`,
      );
    }
    throw new SierraError(
      `unknown execenv ${JSON.stringify(spec)}: not a built-in (${builtins.join(", ")}), and no package ${candidates.join(" or ")} is installed in ${from.join(" or ")}: install one (npm i -D ${candidates.at(-1)}), or give a module path such as ./my-env.mjs`,
    );
  }
  const { pkg, entry } = located;
  const label = `execenv package ${pkg.name}@${pkg.version}`;
  assertCompatibleCore(label, pkg);
  const execenv = await importExecEnv(label, entry);
  return { execenv, packageName: pkg.name, version: pkg.version };
}

async function loadModule(spec: string, cwd: string): Promise<RegisteredExecEnv> {
  const file = path.resolve(cwd, spec);
  if (!existsSync(file)) {
    throw new SierraError(
      `execenv module ${spec} not found (looked for ${file}): give the path of a JavaScript module whose default export is an execenv`,
    );
  }
  // The package the module belongs to, if any, declares the core it was built against.
  let pkg: PackageJson | undefined;
  for (let dir = path.dirname(file); !pkg && path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    pkg = readPackageJson(dir);
  }
  const label = `execenv module ${spec}`;
  if (pkg) assertCompatibleCore(label, pkg);
  const execenv = await importExecEnv(label, pathToFileURL(file).href);
  return { execenv, packageName: file, version: pkg?.version ?? "-" };
}

/** Refuses a plugin whose peer range on @sierra-exec/core excludes this core. */
function assertCompatibleCore(label: string, pkg: PackageJson): void {
  const range = pkg.peerDependencies[CORE_PACKAGE];
  if (range === undefined) return;
  if (semver.validRange(range) === null) {
    throw new SierraError(
      `${label} is malformed: its peer range ${JSON.stringify(range)} on ${CORE_PACKAGE} is not a semver range`,
    );
  }
  if (!semver.satisfies(CORE_VERSION, range, { includePrerelease: true })) {
    throw new SierraError(
      `${label} needs ${CORE_PACKAGE} ${range}, but this sierra has ${CORE_VERSION}: install a matching version (of ${pkg.name} for core ${CORE_VERSION}, or of sierra)`,
    );
  }
}

async function importExecEnv(label: string, url: string): Promise<ExecEnv> {
  let module: { default?: unknown };
  try {
    module = await import(url);
  } catch (error) {
    throw new SierraError(`could not import ${label}: ${firstLine((error as Error).message)}`, {
      cause: error,
    });
  }
  const exported = module.default;
  if (exported === undefined) {
    throw new SierraError(
      `${label} is malformed: it has no default export (export default defineExecEnv({...}))`,
    );
  }
  const apiVersion = (exported as { apiVersion?: unknown } | null)?.apiVersion;
  if (typeof apiVersion === "number" && apiVersion !== PLUGIN_API_VERSION) {
    throw new SierraError(
      `${label} was built for plugin API ${apiVersion}, but this sierra (${CORE_PACKAGE} ${CORE_VERSION}) has plugin API ${PLUGIN_API_VERSION}: install a matching version`,
    );
  }
  const shape = execEnvShapeSchema.safeParse(exported);
  if (!shape.success) {
    const issue = shape.error.issues[0];
    const field = issue?.path.length ? `field ${issue.path.join(".")}` : "its default export";
    throw new SierraError(`${label} is malformed: ${field}: ${issue?.message ?? "invalid"}`);
  }
  return shape.data as unknown as ExecEnv;
}

const firstLine = (text: string) => text.split("\n")[0] ?? "";
