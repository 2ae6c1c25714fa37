// python/sierra_runs.py, the run module of every execenv's Python side, through its own
// unittest suite (test/python/test_sierra_runs.py) on real processes.
import path from "node:path";
import { execa } from "execa";
import { expect, it } from "vitest";
import { CORE_PYTHON_DIR } from "../src/python-runs.js";

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
