// Third-party execenvs as npm packages: the naming convention, the metadata in their
// package.json, and finding the installed ones without importing any plugin code.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";

/** The keyword every execenv package lists, so that it can be found on npm. */
export const EXECENV_KEYWORD = "sierra-execenv";

/** What `--execenv` accepts as a name, e.g. `local`, `hpc.local`, `prefect.localserver`. */
export const EXECENV_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;

export const execenvNameSchema = z
  .string()
  .regex(EXECENV_NAME_PATTERN, "must be lowercase letters, digits, '.', '_' or '-' (e.g. slurm, hpc.local)");

/** The `sierra` field of an execenv package's package.json: listings read it instead of the code. */
export const execenvPackageMetaSchema = z.object({
  execenv: execenvNameSchema,
  aliases: z.array(execenvNameSchema).default([]),
});
export type ExecEnvPackageMeta = z.input<typeof execenvPackageMetaSchema>;

/** The parts of a package.json that loading and listing read. */
const packageJsonSchema = z.object({
  name: z.string(),
  version: z.string().default("0.0.0"),
  description: z.string().default(""),
  keywords: z.array(z.string()).default([]),
  peerDependencies: z.record(z.string(), z.string()).default({}),
  sierra: z.unknown().optional(),
});
export type PackageJson = z.output<typeof packageJsonSchema>;

/** Reads `<dir>/package.json`; undefined when there is none or it has no name. */
export function readPackageJson(dir: string): PackageJson | undefined {
  try {
    const result = packageJsonSchema.safeParse(
      JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")),
    );
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The packages `--execenv <spec>` may name, in the order they are tried: `foo` means
 * `@sierra-exec/execenv-foo`, then `sierra-execenv-foo`; a scoped name or one that
 * starts with `sierra-execenv-` is taken as it is.
 */
export function packageCandidates(spec: string): string[] {
  if (spec.startsWith("@") || spec.startsWith(`${EXECENV_KEYWORD}-`)) return [spec];
  return [`@sierra-exec/execenv-${spec}`, `${EXECENV_KEYWORD}-${spec}`];
}

/** Names in a node_modules folder that may be execenv packages by the convention above. */
function conventionalNames(nodeModules: string): string[] {
  const names: string[] = [];
  for (const entry of safeReaddir(nodeModules)) {
    if (entry.startsWith(`${EXECENV_KEYWORD}-`)) names.push(entry);
    if (!entry.startsWith("@")) continue;
    for (const scoped of safeReaddir(path.join(nodeModules, entry))) {
      const conventional =
        scoped.startsWith(`${EXECENV_KEYWORD}-`) ||
        (entry === "@sierra-exec" && scoped.startsWith("execenv-"));
      if (conventional) names.push(`${entry}/${scoped}`);
    }
  }
  return names;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The node_modules folders Node.js looks in from `dir`: its own, then each parent's. */
function nodeModulesDirs(dir: string): string[] {
  const dirs: string[] = [];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    if (path.basename(current) !== "node_modules") dirs.push(path.join(current, "node_modules"));
    if (path.dirname(current) === current) return dirs.filter((candidate) => existsSync(candidate));
  }
}

export interface InstalledExecEnv {
  name: string;
  aliases: string[];
  packageName: string;
  version: string;
  description: string;
  /** The package's directory. */
  dir: string;
}

/**
 * The execenv packages installed where `from` (directories, the user's project first) can
 * see them: those named by the convention whose package.json lists the keyword
 * `sierra-execenv` and has a valid `sierra` field. Reads package.json files only; the
 * first package of a name wins, as it would for an import.
 */
export function findInstalledExecEnvs(from: readonly string[]): InstalledExecEnv[] {
  const found = new Map<string, InstalledExecEnv>();
  for (const nodeModules of from.flatMap(nodeModulesDirs)) {
    for (const packageName of conventionalNames(nodeModules)) {
      if (found.has(packageName)) continue;
      const dir = path.join(nodeModules, packageName);
      const pkg = readPackageJson(dir);
      if (!pkg?.keywords.includes(EXECENV_KEYWORD)) continue;
      const meta = execenvPackageMetaSchema.safeParse(pkg.sierra);
      if (!meta.success) continue;
      found.set(packageName, {
        name: meta.data.execenv,
        aliases: meta.data.aliases,
        packageName,
        version: pkg.version,
        description: pkg.description,
        dir,
      });
    }
  }
  return [...found.values()];
}
