// Third-party execenvs as a user installs them: a project directory whose node_modules
// holds plugin packages (and @sierra-exec/core, linked to this workspace's), or a module file.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const CORE_DIR = path.resolve(import.meta.dirname, "../../../packages/core");

export interface PluginSource {
  name: string;
  /** Extra properties of the definition, as source text, e.g. `capabilities: { resume: false },`. */
  extra?: string;
  /** Replaces the whole module, for malformed plugins. */
  source?: string;
}

/**
 * A plugin module: runs each command with bash, one after another, and writes its stdout
 * to the run's file. Small on purpose; the testkit holds real execenvs to the contract.
 */
export const pluginModule = ({ name, extra = "", source }: PluginSource) =>
  source ??
  `import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { defineExecEnv, z } from "@sierra-exec/core";

export default defineExecEnv({
  name: ${JSON.stringify(name)},
  description: "a fixture execenv",
  options: z.object({ greeting: z.string().default("hello").describe("what to say") }),
  ${extra}
  async execute(runs, ctx) {
    for (const run of runs) {
      ctx.runStarted(run);
      const result = spawnSync("bash", ["-c", run.command], { cwd: run.cwd, env: { ...process.env, ...run.env } });
      if (run.stdout) {
        mkdirSync(path.dirname(run.stdout), { recursive: true });
        writeFileSync(run.stdout, \`\${ctx.options.greeting} \${result.stdout}\`);
      }
      ctx.runEnded(run, { exitCode: result.status, signal: result.signal });
    }
  },
});
`;

export interface FixturePackage extends PluginSource {
  packageName: string;
  version?: string;
  /** Peer range on @sierra-exec/core (default: any). */
  coreRange?: string;
  /** package.json fields to add or replace. */
  packageJson?: Record<string, unknown>;
}

/** A project directory with the given plugin packages installed in its node_modules. */
export function makeProject(packages: FixturePackage[] = []): string {
  const project = mkdtempSync(path.join(tmpdir(), "sierra-project-"));
  writeFileSync(path.join(project, "package.json"), '{ "name": "a-project", "private": true }\n');
  mkdirSync(path.join(project, "node_modules/@sierra-exec"), { recursive: true });
  symlinkSync(CORE_DIR, path.join(project, "node_modules/@sierra-exec/core"));
  for (const fixture of packages) {
    const dir = path.join(project, "node_modules", fixture.packageName);
    mkdirSync(dir, { recursive: true });
    const packageJson = {
      name: fixture.packageName,
      version: fixture.version ?? "1.0.0",
      description: `fixture ${fixture.name}`,
      type: "module",
      exports: "./index.mjs",
      keywords: ["sierra-execenv"],
      sierra: { execenv: fixture.name },
      peerDependencies: { "@sierra-exec/core": fixture.coreRange ?? "*" },
      ...fixture.packageJson,
    };
    writeFileSync(path.join(dir, "package.json"), JSON.stringify(packageJson, null, 2));
    writeFileSync(path.join(dir, "index.mjs"), pluginModule(fixture));
  }
  return project;
}

/** Writes a plugin module into `dir` and returns its file name. */
export function writePluginModule(dir: string, file: string, source: PluginSource): string {
  writeFileSync(path.join(dir, file), pluginModule(source));
  return file;
}
