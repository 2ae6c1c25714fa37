import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { BATCH_CMDFILE_EXP, discoverBatch, parseCmdfile } from "../src/batch.js";
import { coreOptionsSchema } from "../src/core-options.js";
import { describeOptions, parseOptions } from "../src/option-flags.js";
import { batchRuns } from "../src/run.js";
import { selectExperiments } from "../src/selection.js";

function batchWith(experiments: string[], batchCmdfile = false) {
  const root = mkdtempSync(path.join(tmpdir(), "core-batch-"));
  for (const name of experiments) {
    mkdirSync(path.join(root, "exp-inputs", name), { recursive: true });
    writeFileSync(path.join(root, "exp-inputs", name, "commands.txt"), "a\n\n# c\n  b  \n");
  }
  mkdirSync(path.join(root, "exp-inputs", "no-cmdfile"), { recursive: true });
  if (batchCmdfile) writeFileSync(path.join(root, "commands.txt"), "z\n");
  return root;
}

describe("batch discovery", () => {
  it("skips blank and comment lines, keeps the rest as written", () => {
    expect(parseCmdfile("one\r\n\n   \n# no\n  # indented comment\n two \n")).toEqual(["one", " two "]);
  });

  it("per-exp: orders experiments naturally, ignores dirs without a cmdfile", () => {
    const root = batchWith(["c1-exp10", "c1-exp2", "c1-exp1", "c2-exp0"], true);
    const batch = discoverBatch(root, { paradigm: "per-exp" });
    expect(batch.experiments.map((e) => [e.name, e.index])).toEqual([
      ["c1-exp1", 0],
      ["c1-exp2", 1],
      ["c1-exp10", 2],
      ["c2-exp0", 3],
    ]);
    expect(batch.experiments[0]?.commands).toEqual(["a", "  b  "]);
    expect(batch.experiments[0]?.cwd).toBe(path.join(root, "exp-inputs", "c1-exp1"));
  });

  it("per-batch: runs the root cmdfile, its lines go to the experiment they name, the rest to _batch last", () => {
    const root = batchWith(["e10", "e2"], true);
    writeFileSync(
      path.join(root, "commands.txt"),
      [
        `sim ${root}/exp-inputs/e2/run0`,
        "setup",
        `sim ${root}/exp-inputs/e10/run0`,
        `sim ${root}/exp-inputs/e2/run1`,
      ].join("\n"),
    );
    const batch = discoverBatch(root, { paradigm: "per-batch" });
    expect(batch.experiments.map((e) => [e.name, e.index, e.commands.length, e.cwd])).toEqual([
      ["e2", 0, 2, root],
      ["e10", 1, 1, root],
      ["no-cmdfile", 2, 0, root],
      [BATCH_CMDFILE_EXP, 3, 1, root],
    ]);
    expect(batch.experiments[0]?.commands).toEqual([
      `sim ${root}/exp-inputs/e2/run0`,
      `sim ${root}/exp-inputs/e2/run1`,
    ]);
    expect(() => discoverBatch(root, { paradigmGiven: false })).toThrow(
      /has both a per-batch cmdfile .*commands\.txt\) and per-experiment ones .*--exec-parallelism-paradigm per-batch or per-exp/,
    );
  });

  it("numbers runs per experiment and seq across the batch", () => {
    const batch = discoverBatch(batchWith(["e0", "e1"]));
    const runs = batchRuns(batch, false);
    expect(runs.map((r) => [r.id, r.seq])).toEqual([
      ["e0/run0", 1],
      ["e0/run1", 2],
      ["e1/run0", 3],
      ["e1/run1", 4],
    ]);
    expect(runs[2]?.env).toEqual({ SIERRA_BATCH_ROOT: batch.root, SIERRA_EXP: "e1", SIERRA_RUN: "0" });
    expect(runs[2]?.stdout).toBe(path.join(batch.root, "scratch/e1/run0/stdout"));
    expect(batchRuns(batch, true)[0]?.stdout).toBeNull();
  });

  it("selects experiment ranges like SIERRA", () => {
    const batch = discoverBatch(batchWith(["e0", "e1", "e2"]));
    const names = (range?: string) => selectExperiments(batch, range).map((e) => e.name);
    expect(names()).toEqual(["e0", "e1", "e2"]);
    expect(names("1:1")).toEqual(["e1"]);
    expect(names(":1")).toEqual(["e0", "e1"]);
    expect(names("1:")).toEqual(["e1", "e2"]);
    expect(() => names("0:3")).toThrow(/out of range: the batch has 3 experiments \(0:2\)/);
  });
});

describe("options from a zod schema", () => {
  it("derives flags, kinds, defaults and env vars", () => {
    const rows = describeOptions(coreOptionsSchema);
    expect(rows.find((r) => r.key === "execJobsPerNode")).toMatchObject({
      flag: "--exec-jobs-per-node",
      kind: "number",
      defaultLabel: "number of CPUs",
      valueName: "N",
    });
    expect(rows.find((r) => r.key === "execParallelismParadigm")).toMatchObject({
      kind: "enum",
      choices: ["per-batch", "per-exp"],
      defaultLabel: "per-batch",
    });
    expect(rows.find((r) => r.key === "execenv")).toMatchObject({
      env: "SIERRA_EXECENV",
      defaultLabel: "local",
    });
  });

  it("parses strings from the command line, then env vars, then defaults", () => {
    const schema = z.object({
      jobs: z.number().int().min(1).default(4).describe("jobs"),
      name: z.string().default("x").meta({ env: "TEST_NAME" }).describe("name"),
      flag: z.boolean().default(false).describe("flag"),
    });
    expect(parseOptions(schema, { jobs: "3" }, { TEST_NAME: "from-env" })).toEqual({
      jobs: 3,
      name: "from-env",
      flag: false,
    });
    expect(parseOptions(schema, { name: "cli", flag: true }, { TEST_NAME: "env" })).toMatchObject({
      name: "cli",
    });
    expect(() => parseOptions(schema, { jobs: "0" })).toThrow('--jobs "0": Too small');
    expect(() => parseOptions(schema, { jobs: "two" })).toThrow('--jobs "two": must be a number');
  });
});
