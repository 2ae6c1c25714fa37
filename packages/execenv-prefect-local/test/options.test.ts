// prefect.localserver's options, as the command line and the environment give them.
import { parseOptions } from "@sierra-exec/core";
import { describe, expect, it } from "vitest";
import { prefectLocalOptionsSchema } from "../src/index.js";

describe("options", () => {
  it("defaults to SIERRA's pool and queue names, and refuses bad names in one line", () => {
    expect(parseOptions(prefectLocalOptionsSchema, {}, {})).toMatchObject({
      workPool: "sierra-pool",
      workQueue: "sierra-queue",
      keepServer: false,
    });
    expect(parseOptions(prefectLocalOptionsSchema, {}, { SIERRA_PREFECT_PYTHON: "/p" }).prefectPython).toBe(
      "/p",
    );
    expect(() => parseOptions(prefectLocalOptionsSchema, { workPool: "a b" }, {})).toThrow(
      /^--work-pool "a b": must be letters/,
    );
  });
});
