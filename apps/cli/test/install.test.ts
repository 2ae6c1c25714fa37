// The `sierra` bin as a package manager links it: its target must exist before the build
// (pnpm links a workspace bin only if its target exists at install time; a fresh clone
// has no dist/), and it must run the built CLI.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

const cliDir = path.resolve(import.meta.dirname, "..");
const { bin } = JSON.parse(readFileSync(path.join(cliDir, "package.json"), "utf8"));

describe("the sierra bin", () => {
  it("is a file tracked in git, outside the build output, so a fresh clone's install links it", () => {
    const target = path.normalize(bin.sierra);
    expect(target.startsWith("dist")).toBe(false);
    const tracked = execFileSync("git", ["ls-files", "--error-unmatch", target], {
      cwd: cliDir,
      encoding: "utf8",
    });
    expect(tracked.trim()).toBe(target);
  });

  it("runs the built CLI", async () => {
    const result = await execa(process.execPath, [path.join(cliDir, bin.sierra), "--version"], {
      reject: false,
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
