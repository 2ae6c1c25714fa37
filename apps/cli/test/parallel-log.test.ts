// --exec-resume across SIERRA's hpc.local and us: its GNU parallel joblogs
// (scratch/<exp>/parallel.log) are our history, ours are written there for its
// --resume-failed. GNU parallel runs exactly as hpc.local runs it.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { makeBatch, sierra } from "./helpers.js";

/** What SIERRA 1.5.16's hpc.local runs for one experiment (ExpShellCmdsGenerator.exec_exp_cmds). */
const hpcLocal = (root: string, exp: string, resume: boolean) => {
  const scratch = path.join(root, "scratch", exp);
  const cmdfile = path.join(root, "exp-inputs", exp, "commands.txt");
  return execa(
    "bash",
    [
      "-c",
      `mkdir -p ${scratch} && parallel ${resume ? "--resume-failed" : ""} --jobs 2 --results ${scratch} --joblog ${scratch}/parallel.log --no-notice < "${cmdfile}"`,
    ],
    { reject: false },
  );
};

/** Each run appends its name to a tally file, so that the test sees which runs executed. */
const tallied = (root: string, exp: string, n: number, failing: number[] = []) =>
  Array.from(
    { length: n },
    (_, i) => `echo ${exp}-${i} >> ${root}/tally${failing.includes(i) ? `; test -e ${root}/heal` : ""}`,
  );

const tally = (root: string) =>
  existsSync(path.join(root, "tally"))
    ? readFileSync(path.join(root, "tally"), "utf8").split("\n").filter(Boolean).sort()
    : [];

describe("SIERRA hpc.local's parallel.log", () => {
  it("our --exec-resume skips the runs SIERRA's last stage 2 recorded as succeeded", async () => {
    const root = makeBatch({ exp0: [], exp1: [] });
    for (const exp of ["exp0", "exp1"]) {
      writeFileSync(
        path.join(root, "exp-inputs", exp, "commands.txt"),
        `${tallied(root, exp, 3, [1]).join("\n")}\n`,
      );
      expect((await hpcLocal(root, exp, false)).exitCode).toBe(1); // GNU parallel: number of failed jobs
    }
    writeFileSync(path.join(root, "tally"), "");
    writeFileSync(path.join(root, "heal"), "");
    const resumed = await sierra(["--batch-root", root, "--exec-resume", "--exec-jobs-per-node", "2"]);
    expect(resumed.exitCode).toBe(0);
    expect(resumed.stderr).toContain("4 runs succeeded before");
    expect(tally(root)).toEqual(["exp0-1", "exp1-1"]);
  });

  it("SIERRA's --exec-resume (parallel --resume-failed) skips the runs we recorded as succeeded", async () => {
    const root = makeBatch({ exp0: [] });
    writeFileSync(
      path.join(root, "exp-inputs/exp0/commands.txt"),
      `${tallied(root, "exp0", 4, [2]).join("\n")}\n`,
    );
    expect((await sierra(["--batch-root", root])).exitCode).toBe(1);
    const log = readFileSync(path.join(root, "scratch/exp0/parallel.log"), "utf8").trim().split("\n");
    expect(log[0]).toBe("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand");
    expect(
      log
        .slice(1)
        .map((line) => line.split("\t")[0])
        .sort(),
    ).toEqual(["1", "2", "3", "4"]);
    writeFileSync(path.join(root, "tally"), "");
    writeFileSync(path.join(root, "heal"), "");
    expect((await hpcLocal(root, "exp0", true)).exitCode).toBe(0);
    expect(tally(root)).toEqual(["exp0-2"]);
    // and the other way again: GNU parallel's record of the healed run is ours too
    writeFileSync(path.join(root, "tally"), "");
    const again = await sierra(["--batch-root", root, "--exec-resume"]);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).toContain("nothing to run");
    expect(tally(root)).toEqual([]);
  });

  it("a run that failed under SIERRA after succeeding under us runs again", async () => {
    const root = makeBatch({ exp0: [] });
    writeFileSync(path.join(root, "heal"), "");
    writeFileSync(
      path.join(root, "exp-inputs/exp0/commands.txt"),
      `${tallied(root, "exp0", 2, [0]).join("\n")}\n`,
    );
    expect((await sierra(["--batch-root", root])).exitCode).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await execa("rm", [path.join(root, "heal")]);
    expect((await hpcLocal(root, "exp0", false)).exitCode).toBe(1);
    writeFileSync(path.join(root, "tally"), "");
    writeFileSync(path.join(root, "heal"), "");
    expect((await sierra(["--batch-root", root, "--exec-resume"])).exitCode).toBe(0);
    expect(tally(root)).toEqual(["exp0-0"]);
  });
});
