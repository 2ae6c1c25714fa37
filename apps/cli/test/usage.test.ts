// Bad input: status 2, one clear line on stderr, no stack trace, nothing run.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { defineExecEnv, z } from "@sierra-exec/core";
import { describe, expect, it } from "vitest";
import { builtinRegistry, main } from "../src/index.js";
import { makeBatch, sierra } from "./helpers.js";

const batch = makeBatch({ e0: ['touch "$SIERRA_BATCH_ROOT/ran"'], e1: ["true"] });
const emptyDir = mkdtempSync(path.join(tmpdir(), "sierra-empty-"));
const aFile = path.join(emptyDir, "file");
writeFileSync(aFile, "");
mkdirSync(path.join(emptyDir, "exp-inputs"));

const cases: Array<[string, string[], RegExp]> = [
  ["no batch root", [], /--batch-root is required/],
  ["a missing batch root", ["--batch-root", "/nonexistent/batch"], /\/nonexistent\/batch does not exist/],
  ["a file as batch root", ["--batch-root", aFile], /is not a directory/],
  ["a batch root without experiments", ["--batch-root", emptyDir], /no experiments: expected exp-inputs/],
  [
    "zero jobs",
    ["--batch-root", batch, "--exec-jobs-per-node", "0"],
    /--exec-jobs-per-node "0": must be at least 1/,
  ],
  ["jobs not a number", ["--batch-root", batch, "--exec-jobs-per-node", "many"], /"many": must be a number/],
  ["fractional jobs", ["--batch-root", batch, "--exec-jobs-per-node", "1.5"], /must be a whole number/],
  [
    "a malformed range",
    ["--batch-root", batch, "--exp-range", "one:two"],
    /--exp-range "one:two": must be A:B/,
  ],
  [
    "a backwards range",
    ["--batch-root", batch, "--exp-range", "1:0"],
    /first experiment comes after the last/,
  ],
  [
    "a range past the end",
    ["--batch-root", batch, "--exp-range", "0:5"],
    /out of range: the batch has 2 experiments \(0:1\)/,
  ],
  [
    "an unknown paradigm",
    ["--batch-root", batch, "--exec-parallelism-paradigm", "per-run"],
    /Allowed choices are per-batch, per-exp/,
  ],
  [
    "an unknown execenv",
    ["--batch-root", batch, "--execenv", "pbs"],
    /unknown execenv "pbs": not a built-in \(local, hpc\.local, prefect\.localserver, prefectserver\.local, prefect\.server, prefect1\.localagent, slurm, hpc\.slurm\)/,
  ],
  [
    "a SIERRA execenv we do not ship",
    ["--batch-root", batch, "--execenv=hpc.pbs"],
    /^sierra: error: execenv hpc\.pbs is one of SIERRA's, which sierra-exec does not ship: use one of local \(hpc\.local\), prefect\.localserver \(prefectserver\.local\), prefect\.server, prefect1\.localagent/,
  ],
  [
    "another one",
    ["--batch-root", batch, "--execenv", "robot.turtlebot3"],
    /execenv robot\.turtlebot3 is one of SIERRA's/,
  ],
  ["an unknown option", ["--batch-root", batch, "--exec-fast"], /unknown option '--exec-fast'/],
  ["a stray argument", ["--batch-root", batch, "extra"], /too many arguments/],
  [
    "an option of another execenv",
    ["--batch-root", batch, "--work-pool", "mine"],
    /^sierra: error: option --work-pool belongs to execenv prefect.localserver: add --execenv=prefect.localserver$/,
  ],
  [
    "a negative grace",
    ["--batch-root", batch, "--kill-grace", "-1"],
    /--kill-grace "-1": must be 0 or more seconds/,
  ],
];

describe("bad input through the CLI", () => {
  it.each(cases)("%s: status 2, one line, nothing run", async (_, args, message) => {
    const result = await sierra(args);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/^sierra: error: /);
    expect(result.stderr).toMatch(message);
    expect(existsSync(path.join(batch, "ran"))).toBe(false);
    expect(existsSync(path.join(batch, "scratch"))).toBe(false);
    expect(existsSync(path.join(batch, "statistics"))).toBe(false);
  });

  it("a broken interpreter for the launcher is an environment error", async () => {
    const result = await sierra(["--batch-root", batch, "--python", "/nonexistent/python3"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(
      /^sierra: error: the local execenv needs Python 3.9\+ .*pass --python PATH/,
    );
    expect(existsSync(path.join(batch, "ran"))).toBe(false);
  });
});

describe("a long error", () => {
  it("is one line of a few hundred characters at most; --verbose prints it whole", async () => {
    const long = `/nonexistent/${"d".repeat(2000)}`;
    const result = await sierra(["--batch-root", long]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.split("\n")).toHaveLength(1);
    expect(result.stderr.length).toBeLessThanOrEqual(520);
    expect(result.stderr).toMatch(
      /^sierra: error: batch root \/nonexistent\/d+ \[\d+ characters cut; --verbose shows them\] d+ does not exist: pass the directory stage 1 generated$/,
    );
    const verbose = await sierra(["--batch-root", long, "--verbose"]);
    expect(verbose.stderr).toContain(`${long} does not exist`);
  });
});

describe("options of another execenv", () => {
  const other = defineExecEnv({
    name: "elsewhere",
    description: "a second execenv, to own an option",
    options: z.object({ region: z.string().default("here").describe("a region") }),
    async execute() {},
  });
  const registry = builtinRegistry().register({ execenv: other, packageName: "fixture", version: "0.0.0" });

  it("name the execenv they belong to", async () => {
    const stderr = new PassThrough();
    const io = { stdout: new PassThrough(), stderr, env: {} };
    const status = await main(["--batch-root", batch, "--region", "x"], io, registry);
    expect(status).toBe(2);
    expect(String(stderr.read())).toBe(
      "sierra: error: option --region belongs to execenv elsewhere: add --execenv=elsewhere\n",
    );
  });
});

describe("information", () => {
  it("--help lists core options; with --execenv, the plugin's too", async () => {
    const plain = await sierra(["--help"]);
    expect(plain.exitCode).toBe(0);
    expect(plain.stdout).toMatch(/129\/130\/143 interrupted by\s+SIGHUP\/SIGINT\/SIGTERM/);
    expect(plain.stdout).toMatch(/--exec-jobs-per-node <N>/);
    const local = await sierra(["--execenv=hpc.local", "--help"]);
    expect(local.stdout).toMatch(/Options of execenv local:[\s\S]*--kill-grace <SECONDS>/);
  });

  it("lists execenvs with package and version, and prints its version", async () => {
    const list = await sierra(["execenvs"]);
    expect(list.exitCode).toBe(0);
    expect(list.stdout).toMatch(/^local\s+hpc\.local\s+@sierra-exec\/execenv-local@\d+\.\d+\.\d+/m);
    expect(list.stdout).toMatch(/^slurm\s+hpc\.slurm\s+@sierra-exec\/execenv-slurm@\d+\.\d+\.\d+/m);
    expect((await sierra(["--version"])).stdout).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
