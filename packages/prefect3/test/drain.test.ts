// python/drain.py, the drain every Prefect 3 flow run of a batch is, through its own unittest
// suite (test/python/test_drain.py): drains as plain processes on one work directory.
import path from "node:path";
import { CORE_PYTHON_DIR } from "@sierra-exec/core";
import { execa } from "execa";
import { expect, it } from "vitest";
import { FLOW_DIR } from "../src/setup-api.js";

it("python/drain.py passes its unittest suite", async () => {
  const result = await execa("python3", ["-m", "unittest", "-v", "test_drain"], {
    cwd: path.join(import.meta.dirname, "python"),
    env: { PYTHONPATH: `${CORE_PYTHON_DIR}:${FLOW_DIR}`, PYTHONDONTWRITEBYTECODE: "1" },
    reject: false,
    all: true,
  });
  expect(result.exitCode, result.all).toBe(0);
  expect(result.all).toMatch(/^Ran \d+ tests/m);
});
