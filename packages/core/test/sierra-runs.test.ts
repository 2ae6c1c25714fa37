// python/sierra_runs.py, the run module of every execenv's Python side, through its own
// unittest suite (test/python/test_sierra_runs.py) on real processes.
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { decodeCommand } from "../src/command-text.js";
import { CORE_PYTHON_DIR, startRun } from "../src/python-runs.js";
import type { Run } from "../src/run.js";

it("python/sierra_runs.py passes its unittest suite", async () => {
  const result = await execa("python3", ["-m", "unittest", "-v", "test_sierra_runs"], {
    cwd: path.join(import.meta.dirname, "python"),
    env: { PYTHONPATH: CORE_PYTHON_DIR, PYTHONDONTWRITEBYTECODE: "1" },
    reject: false,
    all: true,
  });
  expect(result.exitCode, result.all).toBe(0);
  expect(result.all).toMatch(/^Ran \d+ tests/m);
});

describe("startRun: one run through python/sierra_runs.py, for execenvs written in Node", () => {
  const run = (command: string): Run => ({
    id: "a/run0",
    exp: "a",
    index: 0,
    seq: 1,
    command,
    cwd: tmpdir(),
    env: { SIERRA_RUN: "0" },
    stdout: null,
    stderr: null,
  });

  it("names a real-time signal as bash does and passes exact bytes", async () => {
    const rt = await startRun(run("kill -35 $$"));
    expect(rt.pid).toBeGreaterThan(0);
    expect(await rt.outcome).toEqual({ exitCode: null, signal: "SIGRTMIN+1" });
    // The byte 0xff (not UTF-8) reaches bash as it is: `printf %s` of it has length 1.
    const bytes = await startRun(
      run(decodeCommand(Buffer.from('[ "$(printf %s "\xff" | wc -c)" = 1 ]', "latin1"))),
    );
    expect(await bytes.outcome).toEqual({ exitCode: 0, signal: null });
  });

  it("reports a Python that cannot start as a run that could not start", async () => {
    const started = await startRun(run("true"), { python: "/nonexistent/python3" });
    expect(started.pid).toBeUndefined();
    expect((await started.outcome).error).toMatch(/\/nonexistent\/python3/);
  });
});
