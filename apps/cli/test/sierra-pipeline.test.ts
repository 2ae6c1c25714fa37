// The real SIERRA pipeline (sierra-research 1.5.16, in the managed environment our CLI
// provisions) on the fixture project (test/fixtures/sierra-project): stages 1-4 with
// --execenv = SIERRA's own hpc.local, local and prefect.localserver, in both paradigms,
// with SIERRA's `sierra` first on PATH and with ours. The statistics SIERRA's stage 3
// writes are byte-identical; the engine's hooks run around our stage 2; exit status and
// Ctrl-C behave as ours.
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ensurePythonEnv, type PythonEnv } from "@sierra-exec/core";
import { execa, execaSync } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SIERRA_SPEC } from "../src/sierra-install.js";
import { newMarker, processesWith, SIERRA, waitFor } from "./helpers.js";

const FIXTURE = path.resolve(import.meta.dirname, "fixtures/sierra-project");
const LEAF = "sierra_exec_fixture.csvproject/demo.default/flat/template-level.1.3";

let venv: PythonEnv;
/** A directory whose `sierra` is ours, to put first on PATH. */
let oursBin: string;
let reference: Map<string, string>;
const temporary: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  temporary.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  const say = (line: string) => process.stderr.write(`${line}\n`);
  venv = await ensurePythonEnv(SIERRA_SPEC, { log: { info: say, warn: say, debug: () => {} } });
  oursBin = tempDir("ours-first-");
  writeFileSync(path.join(oursBin, "sierra"), `#!/bin/sh\nexec "${process.execPath}" "${SIERRA}" "$@"\n`);
  chmodSync(path.join(oursBin, "sierra"), 0o755);
}, 1_800_000);

type First = "SIERRA's" | "ours";

/** `sierra <SIERRA's usual arguments>` with `first`'s `sierra` first on PATH. */
function pipeline(
  first: First,
  {
    execenv,
    paradigm,
    stages = [1, 2, 3],
    env = {},
    extra = [],
  }: {
    execenv: string;
    paradigm: "per-batch" | "per-exp";
    stages?: number[];
    env?: NodeJS.ProcessEnv;
    extra?: string[];
  },
) {
  const root = tempDir("sierra-root-");
  const hooks = path.join(root, "hooks.log");
  const pluginPath = [path.join(FIXTURE, "plugins")];
  // SIERRA's own `sierra` finds our execenvs where the README says: SIERRA_PLUGIN_PATH.
  if (first === "SIERRA's") pluginPath.push(execaSync(process.execPath, [SIERRA, "sierra-plugins"]).stdout);
  const PATH = [...(first === "ours" ? [oursBin] : []), venv.bin, process.env.PATH].join(path.delimiter);
  const args = [
    `--sierra-root=${root}`,
    "--project=sierra_exec_fixture.csvproject",
    "--engine=sierra_exec_fixture.csvsim",
    "--expdef=expdef.yaml",
    `--expdef-template=${path.join(FIXTURE, "template.yaml")}`,
    "--n-runs=4",
    "--controller=demo.default",
    "--scenario=flat",
    "--batch-criteria=level.1.3",
    "--proc",
    "proc.statistics",
    "--graphs-backend=bokeh",
    `--execenv=${execenv}`,
    `--exec-parallelism-paradigm=${paradigm}`,
    "--exec-jobs-per-node=2",
    ...extra,
    "--pipeline",
    ...stages.map(String),
  ];
  const child = execa("sierra", args, {
    reject: false,
    all: true,
    cwd: root,
    timeout: 300_000,
    // its own process group, as a terminal's foreground job: Ctrl-C goes to the group
    detached: true,
    env: { ...env, PATH, SIERRA_PLUGIN_PATH: pluginPath.join(path.delimiter), CSVSIM_HOOKS_LOG: hooks },
  });
  return { child, root, batch: path.join(root, LEAF), hooks, args, PATH, pluginPath };
}

/** Every file SIERRA's stage 3 wrote (statistics/, but exec/: stage 2's timings). */
function statistics(batch: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else files.set(path.relative(batch, file), readFileSync(file, "latin1"));
    }
  };
  for (const entry of readdirSync(path.join(batch, "statistics"))) {
    if (entry !== "exec") walk(path.join(batch, "statistics", entry));
  }
  return files;
}

const hooksOf = (file: string) => readFileSync(file, "utf8").trim().split("\n");
const PER_EXP_HOOKS = ["pre-exp0", "post-exp0", "pre-exp1", "post-exp1", "pre-exp2", "post-exp2"];

describe("SIERRA's pipeline on SIERRA's own hpc.local", () => {
  it("reference: SIERRA's own hpc.local, stages 1-4", async () => {
    const { child, batch, hooks } = pipeline("SIERRA's", {
      execenv: "hpc.local",
      paradigm: "per-exp",
      stages: [1, 2, 3, 4],
    });
    const result = await child;
    expect(result.exitCode, result.all).toBe(0);
    reference = statistics(batch);
    expect([...reference.keys()].sort()).toEqual([
      "statistics/c1-exp0/data.mean",
      "statistics/c1-exp1/data.mean",
      "statistics/c1-exp2/data.mean",
    ]);
    expect(hooksOf(hooks)).toEqual(PER_EXP_HOOKS);
    for (const exp of ["c1-exp0", "c1-exp1", "c1-exp2"]) {
      expect(existsSync(path.join(batch, "graphs", exp, "SLN-data-value.html"))).toBe(true);
    }
  }, 300_000);
});

// One after another: the suite's clean-up after each test (test/setup.ts) would stop a
// neighbour's processes.
describe("SIERRA's pipeline on our execenvs", () => {
  it.each([
    ["SIERRA's", "local", "per-exp"],
    ["SIERRA's", "local", "per-batch"],
    ["SIERRA's", "prefect.localserver", "per-batch"],
    ["ours", "local", "per-exp"],
    ["ours", "prefect.localserver", "per-exp"],
    ["ours", "hpc.local", "per-batch"],
  ] as const)(
    "%s sierra first, --execenv=%s %s: the same statistics, the engine's hooks around us",
    async (first, execenv, paradigm) => {
      const { child, batch, hooks } = pipeline(first, { execenv, paradigm });
      const result = await child;
      expect(result.exitCode, result.all).toBe(0);
      expect(statistics(batch)).toEqual(reference);
      expect(hooksOf(hooks)).toEqual(paradigm === "per-exp" ? PER_EXP_HOOKS : ["pre-batch", "post-batch"]);
      if (execenv !== "hpc.local") {
        // our stage 2 ran it (SIERRA's hpc.local writes no runs.jsonl)
        expect(existsSync(path.join(batch, "statistics/exec/runs.jsonl"))).toBe(true);
      }
    },
    300_000,
  );

  it("a failed run: SIERRA exits 0, ours exits 1; --exec-resume through SIERRA reruns only the failed runs", async () => {
    const failing = { CSVSIM_FAIL_LEVEL: "2" };
    const theirs = pipeline("SIERRA's", {
      execenv: "local",
      paradigm: "per-exp",
      stages: [1, 2],
      env: failing,
    });
    expect((await theirs.child).exitCode).toBe(0);
    const ours = pipeline("ours", { execenv: "local", paradigm: "per-exp", stages: [1, 2], env: failing });
    const failed = await ours.child;
    expect(failed.exitCode, failed.all).toBe(1);

    const resumed = await execa("sierra", [...ours.args.filter((a) => a !== "1"), "--exec-resume"], {
      reject: false,
      all: true,
      cwd: ours.root,
      env: {
        PATH: ours.PATH,
        SIERRA_PLUGIN_PATH: ours.pluginPath.join(path.delimiter),
        CSVSIM_HOOKS_LOG: ours.hooks,
      },
    });
    expect(resumed.exitCode, resumed.all).toBe(0);
    const attempts = (exp: string) =>
      readFileSync(path.join(ours.batch, "scratch", exp, "parallel.log"), "utf8")
        .trim()
        .split("\n").length - 1;
    expect([attempts("c1-exp0"), attempts("c1-exp1"), attempts("c1-exp2")]).toEqual([4, 8, 4]);
  }, 300_000);
});

describe("Ctrl-C during SIERRA's stage 2 on prefect.localserver", () => {
  it.each(["ours", "SIERRA's"] as const)(
    "%s sierra first: exit 130, nothing left running",
    async (first) => {
      const marker = newMarker();
      const { child, batch } = pipeline(first, {
        execenv: "prefect.localserver",
        paradigm: "per-batch",
        stages: [1, 2],
        env: { SIERRA_TEST_MARKER: marker, CSVSIM_SLEEP: "120" },
      });
      // a run is under way: the flow run's sim.py, started by Prefect's worker
      await waitFor(
        () => execaSync("pgrep", ["-f", `sim.py ${batch}`], { reject: false }).stdout.trim() !== "",
        "a run of the batch",
        240_000,
      );
      // a terminal's Ctrl-C: SIGINT to the foreground process group (with ours first, our
      // CLI alone: it runs SIERRA in a group of its own and passes the signal on)
      process.kill(-(child.pid as number), "SIGINT");
      const result = await child;
      expect(result.exitCode, result.all).toBe(130);
      expect(processesWith(marker)).toEqual([]);
    },
    600_000,
  );
});
