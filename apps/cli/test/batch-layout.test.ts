// Which runs a batch has: one set of cmdfiles (SIERRA runs one, chosen by the paradigm),
// the per-batch cmdfile's lines attributed to the experiments they name, and a pointer
// to the batch roots when --batch-root is SIERRA's --sierra-root.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeBatch, readRecords, sierra } from "./helpers.js";

const EXPS = ["c1-exp0", "c1-exp1", "c1-exp2", "c1-exp3"];

/**
 * A batch as SIERRA 1.5 leaves it after regenerating per-batch over a per-exp batch
 * (`--exp-overwrite`): each experiment's commands.txt, and a root commands.txt whose
 * lines name the launch files in the experiments' input directories, appended
 * experiment by experiment, run by run.
 */
function regeneratedBatch(): string {
  const perExp = Object.fromEntries(
    EXPS.map((exp) => [
      exp,
      [0, 1].map((run) => `echo per-exp ${exp} ${run} >> "$SIERRA_BATCH_ROOT/per-exp"`),
    ]),
  );
  const root = makeBatch(perExp);
  const lines = EXPS.flatMap((exp) =>
    [0, 1].map((run) => `cat ${root}/exp-inputs/${exp}/template_run${run} >> "$SIERRA_BATCH_ROOT/per-batch"`),
  );
  for (const exp of EXPS) {
    for (const run of [0, 1])
      writeFileSync(path.join(root, "exp-inputs", exp, `template_run${run}`), `${exp}:${run}\n`);
  }
  writeFileSync(path.join(root, "commands.txt"), `${[...lines, "echo batch-level"].join("\n")}\n`);
  return root;
}

describe("a batch with both a per-batch and per-experiment cmdfiles", () => {
  it("without a paradigm: status 2, one line naming both files and the option, nothing run", async () => {
    const root = regeneratedBatch();
    const result = await sierra(["--batch-root", root]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.split("\n")).toHaveLength(1);
    expect(result.stderr).toContain(path.join(root, "commands.txt"));
    expect(result.stderr).toContain(path.join(root, "exp-inputs/*/commands.txt"));
    expect(result.stderr).toMatch(/--exec-parallelism-paradigm per-batch or per-exp/);
    expect(existsSync(path.join(root, "scratch"))).toBe(false);
  });

  it("per-batch runs the root file once, each line as the run of the experiment it names", async () => {
    const root = regeneratedBatch();
    const result = await sierra(["--batch-root", root, "--exec-parallelism-paradigm", "per-batch"]);
    expect(result.exitCode).toBe(0);
    expect(existsSync(path.join(root, "per-exp"))).toBe(false);
    const records = readRecords(root);
    expect(records.map((r) => `${r.exp}/run${r.run}`).sort()).toEqual(
      [...EXPS.flatMap((exp) => [`${exp}/run0`, `${exp}/run1`]), "_batch/run0"].sort(),
    );
    expect(readFileSync(path.join(root, "scratch/_batch/run0/stdout"), "utf8")).toBe("batch-level\n");
    expect(existsSync(path.join(root, "scratch/c1-exp2/run1/stdout"))).toBe(true);
    // Run i of an experiment is its i-th line: the launch file of run i.
    const perBatch = readFileSync(path.join(root, "per-batch"), "utf8").trim().split("\n").sort();
    expect(perBatch).toEqual(EXPS.flatMap((exp) => [`${exp}:0`, `${exp}:1`]).sort());
  });

  it("--exp-range counts the batch's experiments in the per-batch file too", async () => {
    const root = regeneratedBatch();
    const dry = await sierra([
      "--batch-root",
      root,
      "--exec-parallelism-paradigm",
      "per-batch",
      "--exp-range",
      "1:1",
      "--dry-run",
    ]);
    expect(dry.exitCode).toBe(0);
    expect(
      dry.stdout
        .trim()
        .split("\n")
        .map((line) => line.split("\t")[0]),
    ).toEqual(["c1-exp1/run0", "c1-exp1/run1"]);
    expect(dry.stdout).toContain(`${root}/exp-inputs/c1-exp1/template_run1`);
  });

  it("per-exp runs the experiments' files, not the root one", async () => {
    const root = regeneratedBatch();
    const result = await sierra(["--batch-root", root, "--exec-parallelism-paradigm", "per-exp"]);
    expect(result.exitCode).toBe(0);
    expect(existsSync(path.join(root, "per-batch"))).toBe(false);
    expect(readFileSync(path.join(root, "per-exp"), "utf8").trim().split("\n")).toHaveLength(8);
    expect(readRecords(root)).toHaveLength(8);
  });
});

describe("a batch SIERRA generated per-batch (a root commands.txt, none in the experiments)", () => {
  it("numbers --exp-range over the batch's experiments, no paradigm needed", async () => {
    const root = makeBatch(
      {},
      EXPS.map((exp) => `sim /sierra-root/proj/batch/exp-inputs/${exp}/template_run0`),
    );
    for (const exp of EXPS) mkdirSync(path.join(root, "exp-inputs", exp), { recursive: true });
    const dry = await sierra(["--batch-root", root, "--exp-range", "1:1", "--dry-run"]);
    expect(dry.stderr).toBe("");
    expect(
      dry.stdout
        .trim()
        .split("\n")
        .map((line) => line.split("\t")[0]),
    ).toEqual(["c1-exp1/run0"]);
  });
});

describe("a --batch-root that is SIERRA's --sierra-root", () => {
  it("names the batch roots found below it", async () => {
    const sierraRoot = mkdtempSync(path.join(tmpdir(), "sierra-root-"));
    for (const leaf of ["proj/ctrl/tmpl+pop.Linear.C2", "proj/ctrl/tmpl+pop.Linear.C10"]) {
      mkdirSync(path.join(sierraRoot, leaf, "exp-inputs/c1-exp0"), { recursive: true });
    }
    const result = await sierra(["--batch-root", sierraRoot]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(
      /has no experiments: it looks like SIERRA's --sierra-root; batch roots below it: proj\/ctrl\/tmpl\+pop\.Linear\.C2, proj\/ctrl\/tmpl\+pop\.Linear\.C10: pass one of them/,
    );
  });
});
