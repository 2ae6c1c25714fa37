// The generator on its own: names, refusals, and the files and metadata it writes.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CORE_VERSION, execenvPackageMetaSchema } from "@sierra-exec/core";
import semver from "semver";
import { describe, expect, it } from "vitest";
import { corePeerRange, createExecEnvPackage, namesFor } from "../src/create-package.js";
import { nextSteps } from "../src/next-steps.js";

const tmp = () => mkdtempSync(path.join(tmpdir(), "create-execenv-"));

describe("names", () => {
  it("prefix a bare name, keep package names, take the execenv from the last part", () => {
    expect(namesFor("hal")).toEqual({ execenv: "hal", packageName: "sierra-execenv-hal" });
    expect(namesFor("sierra-execenv-hal")).toEqual({ execenv: "hal", packageName: "sierra-execenv-hal" });
    expect(namesFor("@lab/sierra-execenv-hal")).toEqual({
      execenv: "hal",
      packageName: "@lab/sierra-execenv-hal",
    });
    expect(namesFor("@lab/hal.rig")).toEqual({ execenv: "hal.rig", packageName: "@lab/hal.rig" });
  });

  it("refuse what npm or --execenv would not take", () => {
    expect(() => namesFor("Bad Name")).toThrow(/not make a valid npm package name/);
    expect(() => namesFor("@lab/sierra-execenv-")).toThrow(/execenv name "" must be/);
  });
});

describe("corePeerRange", () => {
  it("spans the later 0.x cores, a caret range from 1.0 on, and admits a snapshot", () => {
    expect(corePeerRange("0.2.3")).toBe(">=0.2.0 <1");
    expect(corePeerRange("1.4.2")).toBe("^1.4.0");
    expect(corePeerRange("0.2.0-rehearsal-20261121201513")).toBe(">=0.2.0-rehearsal-20261121201513 <1");
    for (const version of ["0.2.3", "0.9.0", "0.2.0-rehearsal-20261121201513"]) {
      expect(semver.satisfies(version, corePeerRange(version), { includePrerelease: true })).toBe(true);
    }
    expect(semver.satisfies("1.0.0", corePeerRange("0.2.3"))).toBe(false);
  });
});

describe("createExecEnvPackage", () => {
  it("writes the package, with the peer range on this core and the metadata listings read", () => {
    const cwd = tmp();
    const created = createExecEnvPackage({ name: "demo", cwd });
    expect(created.dir).toBe(path.join(cwd, "sierra-execenv-demo"));
    expect(created.files).toEqual([
      ".changeset/config.json",
      ".changeset/initial-release.md",
      ".gitignore",
      "README.md",
      "package.json",
      "src/index.ts",
      "test/conformance.test.ts",
      "tsconfig.json",
      "tsup.config.ts",
      "vitest.config.ts",
    ]);
    const read = (file: string) => readFileSync(path.join(created.dir, file), "utf8");
    const pkg = JSON.parse(read("package.json"));
    expect(pkg).toMatchObject({
      name: "sierra-execenv-demo",
      type: "module",
      peerDependencies: { "@sierra-exec/core": corePeerRange(CORE_VERSION) },
      scripts: { build: "tsup", test: "vitest run" },
    });
    expect(pkg.keywords).toContain("sierra-execenv");
    expect(execenvPackageMetaSchema.parse(pkg.sierra)).toEqual({ execenv: "demo", aliases: [] });
    expect(Object.keys(pkg.devDependencies)).toEqual(
      expect.arrayContaining([
        "@sierra-exec/core",
        "@sierra-exec/execenv-testkit",
        "tsup",
        "vitest",
        "typescript",
      ]),
    );
    expect(read("src/index.ts")).toMatch(
      /name: "demo",\n {2}description: "Runs sierra-exec batches on demo",/,
    );
    expect(read(".changeset/initial-release.md")).toMatch(/^---\n"sierra-execenv-demo": minor\n---/);
    expect(read("README.md")).not.toMatch(/__[A-Z_]+__/);
    expect(nextSteps(created, cwd)[1]).toBe(
      "next: cd ./sierra-execenv-demo && npm install && npm run build && npm test",
    );
  });

  it("quotes values for source files", () => {
    const created = createExecEnvPackage({ name: "q", cwd: tmp(), description: 'say "hi"' });
    expect(readFileSync(path.join(created.dir, "src/index.ts"), "utf8")).toContain(
      'description: "say \\"hi\\"",',
    );
  });

  it("refuses a directory that is not empty", () => {
    const cwd = tmp();
    writeFileSync(path.join(cwd, "file"), "");
    expect(() => createExecEnvPackage({ name: "demo", dir: ".", cwd })).toThrow(/is not an empty directory/);
  });
});
