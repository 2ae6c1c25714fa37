// Writes a new execenv plugin package from the files in ../template, with a package.json
// made here: names, the peer range on @sierra-exec/core, the metadata `sierra execenvs` reads.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  CORE_VERSION,
  EXECENV_KEYWORD,
  type ExecEnvPackageMeta,
  execenvNameSchema,
  SierraError,
} from "@sierra-exec/core";
import semver from "semver";
import validatePackageName from "validate-npm-package-name";
import rootPackage from "../../../package.json" with { type: "json" };
import testkitPackage from "../../execenv-testkit/package.json" with { type: "json" };

const TEMPLATE_DIR = new URL("../template/", import.meta.url);

/** Template files whose names npm would not publish as they are. */
const RENAMED: Record<string, string> = { _gitignore: ".gitignore" };

export interface CreateExecEnvInput {
  /** `hal`, or a package name: `sierra-execenv-hal`, `@lab/sierra-execenv-hal`, `@lab/hal`. */
  name: string;
  /** Where to write the package (default: a directory named after the package, in `cwd`). */
  dir?: string;
  cwd?: string;
  description?: string;
}

export interface CreatedExecEnv {
  /** The execenv's name, what `--execenv` takes. */
  execenv: string;
  packageName: string;
  dir: string;
  files: string[];
}

/** `hal` → `sierra-execenv-hal`; a package name stays; the execenv is its last part without the prefix. */
export function namesFor(name: string): { execenv: string; packageName: string } {
  const isPackageName = name.startsWith("@") || name.startsWith(`${EXECENV_KEYWORD}-`);
  const packageName = isPackageName ? name : `${EXECENV_KEYWORD}-${name}`;
  const execenv = (packageName.split("/").at(-1) ?? "").replace(/^(sierra-execenv-|execenv-)/, "");
  const valid = validatePackageName(packageName);
  if (!valid.validForNewPackages) {
    throw new SierraError(
      `${JSON.stringify(name)} does not make a valid npm package name ${packageName}: ${[...(valid.errors ?? []), ...(valid.warnings ?? [])].join("; ")}`,
    );
  }
  const execenvName = execenvNameSchema.safeParse(execenv);
  if (!execenvName.success) {
    throw new SierraError(`execenv name ${JSON.stringify(execenv)} ${execenvName.error.issues[0]?.message}`);
  }
  return { execenv, packageName };
}

const caret = (version: string) => `^${version}`;

/**
 * The peer range on @sierra-exec/core for a plugin built against `version`: while the core
 * is 0.x, every later 0.x (`>=0.2.0 <1`), since the plugin API version, not the minor,
 * says when plugins break; from 1.0 on, a caret range. A prerelease core (a snapshot) is
 * its own lower bound, so that it satisfies the range.
 */
export function corePeerRange(version: string): string {
  const parsed = semver.parse(version);
  if (!parsed) throw new Error(`not a semver version: ${version}`);
  const floor = parsed.prerelease.length > 0 ? version : `${parsed.major}.${parsed.minor}.0`;
  return parsed.major === 0 ? `>=${floor} <1` : `^${floor}`;
}

function packageJson(execenv: string, packageName: string, description: string) {
  const coreRange = corePeerRange(CORE_VERSION);
  const tool = (name: keyof typeof rootPackage.devDependencies) =>
    caret(rootPackage.devDependencies[name].replace(/^\^/, ""));
  const sierra: ExecEnvPackageMeta = { execenv, aliases: [] };
  return {
    name: packageName,
    version: "0.0.0",
    description,
    license: "MIT",
    type: "module",
    engines: { node: rootPackage.engines.node },
    keywords: ["sierra", "sierra-exec", EXECENV_KEYWORD, "execenv"],
    sierra,
    exports: {
      ".": { types: "./dist/index.d.ts", import: "./dist/index.js" },
      "./package.json": "./package.json",
    },
    main: "./dist/index.js",
    types: "./dist/index.d.ts",
    files: ["dist"],
    scripts: {
      build: "tsup",
      test: "vitest run",
      typecheck: "tsc -p tsconfig.json",
      changeset: "changeset",
      prepublishOnly: "npm run build",
    },
    peerDependencies: { "@sierra-exec/core": coreRange },
    devDependencies: {
      "@changesets/cli": tool("@changesets/cli"),
      "@sierra-exec/core": coreRange,
      "@sierra-exec/execenv-testkit": caret(testkitPackage.version),
      "@types/node": tool("@types/node"),
      tsup: tool("tsup"),
      typescript: tool("typescript"),
      vitest: tool("vitest"),
    },
  };
}

/** Every file below `dir`, as paths relative to it. */
function templateFiles(dir: string, prefix = ""): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(prefix, entry.name);
    return entry.isDirectory() ? templateFiles(dir, relative) : [relative];
  });
}

/**
 * Writes a plugin package that builds with tsup and passes the testkit as it is. Refuses
 * (SierraError) a bad name or a directory that is not empty.
 */
export function createExecEnvPackage(input: CreateExecEnvInput): CreatedExecEnv {
  const { execenv, packageName } = namesFor(input.name);
  const cwd = input.cwd ?? process.cwd();
  const dir = path.resolve(cwd, input.dir ?? (packageName.split("/").at(-1) as string));
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) {
    throw new SierraError(`${dir} exists and is not an empty directory: choose another --dir`);
  }
  const description = input.description ?? `Runs sierra-exec batches on ${execenv}`;
  const values: Record<string, string> = {
    __EXECENV_NAME__: execenv,
    __PACKAGE_NAME__: packageName,
    __DESCRIPTION__: description,
    __CORE_RANGE__: corePeerRange(CORE_VERSION),
  };
  const template = new URL(TEMPLATE_DIR).pathname;
  const files = ["package.json"];
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, "package.json"),
    `${JSON.stringify(packageJson(execenv, packageName, description), null, 2)}\n`,
  );
  for (const file of templateFiles(template)) {
    const target = path.join(path.dirname(file), RENAMED[path.basename(file)] ?? path.basename(file));
    // In source files the values stand inside string literals.
    const quote = file.endsWith(".ts") ? (value: string) => JSON.stringify(value).slice(1, -1) : String;
    const text = readFileSync(path.join(template, file), "utf8").replace(/__[A-Z_]+__/g, (placeholder) =>
      quote(values[placeholder] ?? placeholder),
    );
    mkdirSync(path.dirname(path.join(dir, target)), { recursive: true });
    writeFileSync(path.join(dir, target), text);
    files.push(target);
  }
  return { execenv, packageName, dir, files: files.sort() };
}
