// Third-party execenvs through the built CLI: found by path, by convention and by full
// name; refused, with status 2 and one line, when incompatible, malformed, or asked for
// something they cannot do; listed without running their code.
import { existsSync } from "node:fs";
import path from "node:path";
import { CORE_VERSION } from "@sierra-exec/core";
import { describe, expect, it } from "vitest";
import { makeBatch, read, readRecords, sierra } from "./helpers.js";
import { makeProject, writePluginModule } from "./plugin-fixtures.js";

const batch = () => makeBatch({ e0: ["echo one", "echo two"] });

async function expectRuns(args: string[], cwd: string, execenv: string) {
  const root = batch();
  const result = await sierra(["--batch-root", root, ...args], { cwd });
  expect(result.stderr).not.toMatch(/error/);
  expect(result.exitCode).toBe(0);
  expect(readRecords(root).map((record) => [record.run, record.exitCode, record.execenv])).toEqual([
    [0, 0, execenv],
    [1, 0, execenv],
  ]);
  return root;
}

/** Status 2, exactly one line on stderr, matching `message`; nothing run. */
async function expectRefused(args: string[], cwd: string, message: RegExp) {
  const root = batch();
  const result = await sierra(["--batch-root", root, ...args], { cwd });
  expect(result.stderr.split("\n")).toHaveLength(1);
  expect(result.stderr).toMatch(/^sierra: error: /);
  expect(result.stderr).toMatch(message);
  expect(result.exitCode).toBe(2);
  expect(existsSync(path.join(root, "statistics"))).toBe(false);
}

describe("loading a third-party execenv", () => {
  it("from a module path, relative to the working directory, with its own options", async () => {
    const project = makeProject();
    writePluginModule(project, "my-env.mjs", { name: "mine" });
    const root = await expectRuns(["--execenv", "./my-env.mjs", "--greeting", "hi"], project, "mine");
    expect(read(root, "scratch/e0/run1/stdout")).toBe("hi two\n");
    await expectRuns([`--execenv=${path.join(project, "my-env.mjs")}`], project, "mine");
  });

  it("from an installed package, by convention and by full name", async () => {
    const project = makeProject([
      { packageName: "sierra-execenv-hal", name: "hal" },
      { packageName: "@sierra-exec/execenv-kube", name: "kube" },
      { packageName: "@lab/sierra-execenv-rig", name: "rig" },
    ]);
    await expectRuns(["--execenv", "hal"], project, "hal");
    await expectRuns(["--execenv", "kube"], project, "kube");
    await expectRuns(["--execenv", "@lab/sierra-execenv-rig"], project, "rig");
    await expectRuns(["--execenv", "sierra-execenv-hal"], project, "hal");
    // A scoped package outside the convention is found by the name in its metadata.
    await expectRuns(["--execenv", "rig"], project, "rig");
    const help = await sierra(["--execenv", "hal", "--help"], { cwd: project });
    expect(help.stdout).toMatch(/Options of execenv hal:[\s\S]*--greeting <VALUE>/);
  });

  it("an unknown name says what was tried and how to install", async () => {
    await expectRefused(
      ["--execenv", "pbs"],
      makeProject(),
      /unknown execenv "pbs": not a built-in \(local, hpc\.local, prefect\.localserver, prefectserver\.local, prefect\.server, prefect1\.localagent, slurm, hpc\.slurm\), and no package @sierra-exec\/execenv-pbs or sierra-execenv-pbs is installed in .*: install one \(npm i -D sierra-execenv-pbs\)/,
    );
    await expectRefused(
      ["--execenv", "./missing.mjs"],
      makeProject(),
      /execenv module \.\/missing\.mjs not found/,
    );
  });
});

describe("refusing a third-party execenv", () => {
  it("of a peer range that excludes this core", async () => {
    const project = makeProject([{ packageName: "sierra-execenv-old", name: "old", coreRange: "^99.0.0" }]);
    await expectRefused(
      ["--execenv", "old"],
      project,
      new RegExp(
        `execenv package sierra-execenv-old@1\\.0\\.0 needs @sierra-exec/core \\^99\\.0\\.0, but this sierra has ${CORE_VERSION.replaceAll(".", "\\.")}: install a matching version`,
      ),
    );
  });

  it("built for another plugin API", async () => {
    const project = makeProject([
      { packageName: "sierra-execenv-next", name: "next", extra: "apiVersion: 2," },
    ]);
    await expectRefused(
      ["--execenv", "next"],
      project,
      /sierra-execenv-next@1\.0\.0 was built for plugin API 2, but this sierra .* has plugin API 1: install a matching version/,
    );
  });

  it("whose default export is malformed, naming the package and the field", async () => {
    const project = makeProject([
      {
        packageName: "sierra-execenv-broken",
        name: "broken",
        source: 'export default { apiVersion: 1, name: "broken", description: "no execute", options: {} };\n',
      },
      { packageName: "sierra-execenv-bare", name: "bare", source: "export const execenv = {};\n" },
      {
        packageName: "sierra-execenv-idle",
        name: "idle",
        source:
          'import { z } from "@sierra-exec/core";\nexport default { apiVersion: 1, name: "idle", description: "d", options: z.object({}) };\n',
      },
    ]);
    await expectRefused(
      ["--execenv", "idle"],
      project,
      /^sierra: error: execenv package sierra-execenv-idle@1\.0\.0 is malformed: field execute: expected a function, received undefined$/,
    );
    await expectRefused(
      ["--execenv", "broken"],
      project,
      /execenv package sierra-execenv-broken@1\.0\.0 is malformed: field options: expected a zod object schema/,
    );
    await expectRefused(
      ["--execenv", "bare"],
      project,
      /sierra-execenv-bare@1\.0\.0 is malformed: it has no default export/,
    );
    writePluginModule(project, "no-execute.mjs", { name: "x", source: "" });
    await expectRefused(
      ["--execenv", "./no-execute.mjs"],
      project,
      /execenv module \.\/no-execute\.mjs is malformed/,
    );
  });

  it("whose code throws when imported; --verbose shows where", async () => {
    const project = makeProject([
      { packageName: "sierra-execenv-boom", name: "boom", source: 'throw new Error("boom at load");\n' },
    ]);
    await expectRefused(
      ["--execenv", "boom"],
      project,
      /could not import execenv package sierra-execenv-boom@1\.0\.0: boom at load$/,
    );
    const verbose = await sierra(["--execenv", "boom", "--batch-root", batch(), "--verbose"], {
      cwd: project,
    });
    expect(verbose.exitCode).toBe(2);
    expect(verbose.stderr).toMatch(/caused by: Error: boom at load\n\s+at .*sierra-execenv-boom\/index\.mjs/);
  });

  it("that cannot do what the options ask for", async () => {
    const project = makeProject([
      {
        packageName: "sierra-execenv-once",
        name: "once",
        extra: "capabilities: { resume: false, strictStop: false },",
      },
      { packageName: "sierra-execenv-quiet", name: "quiet", extra: "capabilities: { perRunLogs: false }," },
    ]);
    await expectRefused(
      ["--execenv", "once", "--exec-resume"],
      project,
      /--exec-resume is not supported by execenv once \(it lacks capability resume\)/,
    );
    await expectRefused(
      ["--execenv", "once", "--exec-strict", "--dry-run"],
      project,
      /--exec-strict is not supported by execenv once \(it lacks capability strictStop\)/,
    );
    await expectRefused(
      ["--execenv", "quiet"],
      project,
      /execenv quiet cannot run without --exec-devnull \(it lacks capability perRunLogs\): add --exec-devnull/,
    );
    await expectRuns(["--execenv", "once"], project, "once");
  });

  it("whose name is taken by a built-in", async () => {
    const project = makeProject();
    writePluginModule(project, "local.mjs", { name: "hpc.local" });
    await expectRefused(
      ["--execenv", "./local.mjs"],
      project,
      /execenv name hpc\.local of .* is already taken/,
    );
  });
});

describe("sierra execenvs", () => {
  it("lists built-ins and installed execenv packages from their metadata, without importing them", async () => {
    const project = makeProject([
      { packageName: "sierra-execenv-hal", name: "hal", source: 'throw new Error("imported!");\n' },
      {
        packageName: "@lab/sierra-execenv-rig",
        name: "rig",
        packageJson: { sierra: { execenv: "rig", aliases: ["lab.rig"] } },
      },
      { packageName: "sierra-execenv-unmarked", name: "unmarked", packageJson: { keywords: [] } },
    ]);
    const list = await sierra(["execenvs"], { cwd: project });
    expect(list.exitCode).toBe(0);
    expect(list.stderr).toBe("");
    const lines = list.stdout.split("\n");
    expect(lines[1]).toMatch(/^local\s+hpc\.local\s+@sierra-exec\/execenv-local@/);
    expect(lines).toContainEqual(
      expect.stringMatching(/^hal\s+-\s+sierra-execenv-hal@1\.0\.0\s+fixture hal$/),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^rig\s+lab\.rig\s+@lab\/sierra-execenv-rig@1\.0\.0\s+fixture rig$/),
    );
    expect(list.stdout).not.toMatch(/unmarked/);
  });
});
