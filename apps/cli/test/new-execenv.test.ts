// `sierra new execenv` end to end: the generated package installs against this
// workspace's core and testkit (packed as they would be published), builds, passes its
// own tests, and the CLI runs batches with it, by path and installed in a project.
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { makeBatch, readRecords, sierra } from "./helpers.js";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const PNPM = path.join(ROOT, "node_modules/.bin/pnpm");
// A clean environment: the outer vitest's variables must not reach the generated package's.
const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", CI: "1" };
const pnpm = (args: string[], cwd: string) =>
  execa(PNPM, args, { cwd, env, extendEnv: false, reject: false, all: true, timeout: 240_000 });

describe("sierra new execenv", () => {
  const work = mkdtempSync(path.join(tmpdir(), "sierra-new-"));
  const dir = path.join(work, "sierra-execenv-demo");

  beforeAll(async () => {
    const created = await sierra(["new", "execenv", "demo", "--dir", dir]);
    expect(created.exitCode).toBe(0);
    expect(created.stdout).toMatch(/^created sierra-execenv-demo \(execenv demo\) in /);
    // Install the unpublished workspace packages from tarballs, as a registry would serve them.
    const tarballs = path.join(work, "tarballs");
    const overrides: string[] = [];
    for (const name of ["core", "execenv-testkit"]) {
      const packed = await pnpm(["pack", "--pack-destination", tarballs], path.join(ROOT, "packages", name));
      expect(packed.exitCode, packed.all).toBe(0);
      const tarball = packed.stdout.trim().split("\n").at(-1) as string;
      overrides.push(`  "@sierra-exec/${name}": "file:${tarball}"`);
    }
    writeFileSync(path.join(dir, "pnpm-workspace.yaml"), `overrides:\n${overrides.join("\n")}\n`);
    const installed = await pnpm(["install", "--prefer-offline"], dir);
    expect(installed.exitCode, installed.all).toBe(0);
  }, 300_000);

  it("writes a package that builds, type-checks and passes its testkit suite", async () => {
    for (const script of ["build", "typecheck", "test"]) {
      const result = await pnpm(["run", script], dir);
      expect(result.exitCode, `${script}:\n${result.all}`).toBe(0);
    }
    expect(existsSync(path.join(dir, "dist/index.js"))).toBe(true);
  }, 300_000);

  it("runs batches through the CLI by module path and, installed, by name", async () => {
    const root = makeBatch({ e0: ["echo one", "exit 3"] });
    const byPath = await sierra(["--execenv", "./sierra-execenv-demo/dist/index.js", "--batch-root", root], {
      cwd: work,
    });
    expect(byPath.exitCode, byPath.stderr).toBe(1);
    const records = readRecords(root).sort((a, b) => a.run - b.run);
    expect(records.map((r) => [r.run, r.exitCode, r.execenv])).toEqual([
      [0, 0, "demo"],
      [1, 3, "demo"],
    ]);

    const project = mkdtempSync(path.join(tmpdir(), "sierra-project-"));
    mkdirSync(path.join(project, "node_modules"));
    symlinkSync(dir, path.join(project, "node_modules/sierra-execenv-demo"));
    const ok = makeBatch({ e0: ["echo one"] });
    const byName = await sierra(["--execenv", "demo", "--batch-root", ok, "--kill-grace", "1"], {
      cwd: project,
    });
    expect(byName.exitCode, byName.stderr).toBe(0);
    expect(readRecords(ok)[0]).toMatchObject({ exitCode: 0, execenv: "demo" });
    const list = await sierra(["execenvs"], { cwd: project });
    expect(list.stdout).toMatch(
      /^demo\s+-\s+sierra-execenv-demo@0\.0\.0\s+Runs sierra-exec batches on demo$/m,
    );
  }, 120_000);
});
