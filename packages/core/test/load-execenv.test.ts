// Plugin loading without the CLI: naming convention, look-up order, capabilities.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { assertCapabilities } from "../src/capabilities.js";
import { coreOptionsSchema } from "../src/core-options.js";
import { defineExecEnv } from "../src/exec-env.js";
import { findInstalledExecEnvs, packageCandidates } from "../src/execenv-packages.js";
import { loadExecEnv } from "../src/load-execenv.js";
import { ExecEnvRegistry } from "../src/registry.js";

/** A directory whose node_modules holds a plain-object plugin package (no core import needed). */
function installDir(packageName: string, execenv: string, version = "2.0.0") {
  const root = mkdtempSync(path.join(tmpdir(), "core-load-"));
  const dir = path.join(root, "node_modules", packageName);
  mkdirSync(dir, { recursive: true });
  const pkg = { name: packageName, version, type: "module", exports: "./index.js" };
  writeFileSync(
    path.join(dir, "package.json"),
    JSON.stringify({ ...pkg, keywords: ["sierra-execenv"], sierra: { execenv } }),
  );
  // The options schema comes from this test's zod, as a plugin with its own zod copy would bring one.
  (globalThis as Record<string, unknown>).__fixtureOptions = z.object({});
  writeFileSync(
    path.join(dir, "index.js"),
    `export default { apiVersion: 1, name: ${JSON.stringify(execenv)}, description: "d", options: globalThis.__fixtureOptions, execute() {} };\n`,
  );
  return root;
}

const core = (raw: Record<string, unknown>) => coreOptionsSchema.parse({ batchRoot: "b", ...raw });

describe("execenv packages", () => {
  it("names candidates by convention, full names as they are", () => {
    expect(packageCandidates("foo")).toEqual(["@sierra-exec/execenv-foo", "sierra-execenv-foo"]);
    expect(packageCandidates("@lab/sierra-execenv-hal")).toEqual(["@lab/sierra-execenv-hal"]);
    expect(packageCandidates("sierra-execenv-x")).toEqual(["sierra-execenv-x"]);
  });

  it("looks up from each directory in order, and from their parents", async () => {
    const empty = mkdtempSync(path.join(tmpdir(), "core-empty-"));
    const cliInstall = installDir("sierra-execenv-far", "far");
    const nested = path.join(cliInstall, "node_modules", "some-cli", "dist");
    mkdirSync(nested, { recursive: true });
    const registry = new ExecEnvRegistry();
    const entry = await loadExecEnv("far", { registry, from: [empty, nested], cwd: empty });
    expect(entry).toMatchObject({ packageName: "sierra-execenv-far", version: "2.0.0" });
    expect(entry.execenv.capabilities).toEqual({
      resume: true,
      strictStop: true,
      cancellation: true,
      perRunLogs: true,
      remote: false,
    });
    expect(registry.find("far")).toBe(entry);
    // The user's project comes first, even when the install has the preferred name.
    const project = installDir("sierra-execenv-far", "far", "1.0.0");
    const scoped = path.join(installDir("@sierra-exec/execenv-far", "far"), "node_modules");
    const settings = { registry: new ExecEnvRegistry(), from: [project, scoped], cwd: project };
    expect(await loadExecEnv("far", settings)).toMatchObject({
      packageName: "sierra-execenv-far",
      version: "1.0.0",
    });
    expect(
      findInstalledExecEnvs([empty, nested]).map(({ name, packageName }) => [name, packageName]),
    ).toEqual([["far", "sierra-execenv-far"]]);
  });
});

describe("capabilities", () => {
  const execenv = defineExecEnv({
    name: "limited",
    description: "d",
    options: z.object({}),
    capabilities: { resume: false },
    async execute() {},
  });

  it("take defaults for what a definition leaves out", () => {
    expect(execenv.capabilities).toMatchObject({ resume: false, strictStop: true, remote: false });
  });

  it("refuse options that need a missing capability, naming option and execenv", () => {
    expect(() => assertCapabilities(execenv, core({}))).not.toThrow();
    expect(() => assertCapabilities(execenv, core({ execResume: true }))).toThrow(
      "--exec-resume is not supported by execenv limited (it lacks capability resume): leave out --exec-resume or choose another execenv",
    );
    const quiet = {
      name: "quiet",
      capabilities: { ...execenv.capabilities, resume: true, perRunLogs: false },
    };
    expect(() => assertCapabilities(quiet, core({}))).toThrow(/cannot run without --exec-devnull/);
    expect(() => assertCapabilities(quiet, core({ execDevnull: true }))).not.toThrow();
  });
});
