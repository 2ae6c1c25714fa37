// Provisions a real virtual environment from PyPI (a small package), twice at once.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { ensurePythonEnv } from "../src/python-env.js";

const log = { info: () => {}, warn: () => {}, debug: () => {} };

describe("managed Python environments", () => {
  it("creates one once, even when two callers ask at the same time", async () => {
    const env = { SIERRA_CACHE_DIR: mkdtempSync(path.join(tmpdir(), "cache-")) };
    const spec = { name: "six", requirements: ["six==1.16.0"] };
    const progress: string[] = [];
    const logging = { ...log, info: (line: string) => progress.push(line) };
    const [a, b] = await Promise.all([
      ensurePythonEnv(spec, { log: logging, env }),
      ensurePythonEnv(spec, { log: logging, env }),
    ]);
    expect(a).toEqual(b);
    // One progress line, naming the file with pip's output.
    expect(progress).toEqual([`provisioning six==1.16.0 into ${a.dir} (once; pip's output in ${a.dir}.log)`]);
    expect(readFileSync(`${a.dir}.log`, "utf8")).toMatch(/Successfully installed six-1\.16\.0/);
    const probe = await execa(a.python, ["-c", "import six; print(six.__version__)"]);
    expect(probe.stdout).toBe("1.16.0");
    const said: string[] = [];
    await ensurePythonEnv(spec, { log: { ...log, info: (line) => said.push(line) }, env });
    expect(said).toEqual([]);
  }, 180_000);

  it("fails with one clear line when the interpreter does not work", async () => {
    const env = { SIERRA_CACHE_DIR: mkdtempSync(path.join(tmpdir(), "cache-")) };
    const spec = { name: "broken", requirements: ["six"], python: "/nonexistent/python3" };
    const said: string[] = [];
    await expect(
      ensurePythonEnv(spec, { log: { ...log, info: (line) => said.push(line) }, env }),
    ).rejects.toThrow(/could not provision broken into .*: creating the virtual environment failed/);
    expect(said).toEqual([]);
  });
});
