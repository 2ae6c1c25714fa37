// The core's lifecycle without processes: an in-memory execenv reports starts and ends,
// and executeBatch must call the hooks in order, tear down what it set up, write the
// records, stop as --exec-strict says and decide the exit status as the contract does.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { Capabilities } from "../src/capabilities.js";
import { type CoreOptions, coreOptionsSchema } from "../src/core-options.js";
import { SierraError } from "../src/errors.js";
import { defineExecEnv, type ExecEnvDefinition, type ExecuteContext, type Logger } from "../src/exec-env.js";
import { type ExecuteBatchInput, executeBatch } from "../src/execute-batch.js";
import { planBatch } from "../src/plan.js";
import type { Run } from "../src/run.js";
import { joblogPath, type RunRecord, runsJsonlPath } from "../src/run-records.js";

/** A batch root with `exp0`, `exp1`, ... holding the given cmdfile lines. */
function batchRoot(...experiments: string[][]): string {
  const root = mkdtempSync(path.join(tmpdir(), "core-execute-"));
  experiments.forEach((lines, index) => {
    const dir = path.join(root, "exp-inputs", `exp${index}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "commands.txt"), `${lines.join("\n")}\n`);
  });
  return root;
}

const coreOptions = (root: string, raw: Partial<CoreOptions> = {}): CoreOptions =>
  coreOptionsSchema.parse({ batchRoot: root, execJobsPerNode: 2, ...raw });

const readRecords = (root: string): RunRecord[] =>
  readFileSync(runsJsonlPath(root), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));

type Hooks = Partial<Omit<ExecEnvDefinition<z.ZodObject, string>, "name" | "options" | "description">>;

/**
 * An execenv whose runs "exit" with `exitCode(command)` (a command `exit N` exits N) the
 * moment they start, one after another, until `ctx.signal` is aborted. Every hook call is
 * appended to `calls`; `hooks` replace or wrap the defaults.
 */
function memoryExecEnv(hooks: Hooks = {}, capabilities?: Partial<Capabilities>) {
  const calls: string[] = [];
  const started: string[] = [];
  const execenv = defineExecEnv({
    name: "memory",
    description: "in-memory runs for lifecycle tests",
    options: z.object({}),
    ...(capabilities ? { capabilities } : {}),
    check: (ctx) => {
      calls.push("check");
      return hooks.check?.(ctx);
    },
    setupBatch: async (ctx, found) => {
      calls.push("setupBatch");
      ctx.onCleanup(() => {
        calls.push("cleanup:setupBatch");
      });
      return (await hooks.setupBatch?.(ctx, found)) ?? "state";
    },
    setupExperiment: (experiment, ctx) => {
      calls.push(`setupExperiment:${experiment.name}`);
      return hooks.setupExperiment?.(experiment, ctx);
    },
    execute: async (runs, ctx) => {
      calls.push(`execute:${runs.map((run) => run.id).join(",")}`);
      ctx.onCleanup(() => {
        calls.push(`cleanup:execute:${runs[0]?.exp}`);
      });
      if (hooks.execute) return hooks.execute(runs, ctx);
      for (const run of runs) {
        if (ctx.signal.aborted) break;
        runOne(run, ctx);
      }
    },
    teardownExperiment: (experiment, ctx) => {
      calls.push(`teardownExperiment:${experiment.name}`);
      return hooks.teardownExperiment?.(experiment, ctx);
    },
    teardownBatch: (ctx, state) => {
      calls.push(`teardownBatch:${state}`);
      return hooks.teardownBatch?.(ctx, state);
    },
  });
  const runOne = (run: Run, ctx: ExecuteContext<unknown, string>) => {
    started.push(run.id);
    ctx.runStarted(run);
    const exitCode = Number(/^exit (\d+)$/.exec(run.command)?.[1] ?? 0);
    ctx.runEnded(run, { exitCode, signal: null });
  };
  return { execenv, calls, started, runOne };
}

function logger() {
  const lines: string[] = [];
  const log: Logger = {
    info: (message) => lines.push(`info ${message}`),
    warn: (message) => lines.push(`warn ${message}`),
    debug: () => {},
  };
  return { log, lines };
}

/** Plans the batch at `root` and executes it with `execenv`, signals handled only through `signal`. */
function execute(
  root: string,
  execenv: ExecuteBatchInput<z.ZodObject, string>["execenv"],
  raw: Partial<CoreOptions> = {},
  extra: Partial<ExecuteBatchInput<z.ZodObject, string>> = {},
) {
  const core = coreOptions(root, raw);
  return executeBatch({
    plan: planBatch(core),
    execenv,
    options: {},
    core,
    log: logger().log,
    handleSignals: false,
    ...extra,
  });
}

describe("executeBatch: hook order", () => {
  it("per-batch: check, setupBatch, every setupExperiment, one execute, tear-downs in reverse, clean-ups last first", async () => {
    const root = batchRoot(["true", "true"], ["true"]);
    const { execenv, calls } = memoryExecEnv();
    const result = await execute(root, execenv, { execParallelismParadigm: "per-batch" });
    expect(calls).toEqual([
      "check",
      "setupBatch",
      "setupExperiment:exp0",
      "setupExperiment:exp1",
      "execute:exp0/run0,exp0/run1,exp1/run0",
      "teardownExperiment:exp1",
      "teardownExperiment:exp0",
      "teardownBatch:state",
      "cleanup:execute:exp0",
      "cleanup:setupBatch",
    ]);
    expect(result).toMatchObject({ exitCode: 0, succeeded: 3, failed: [], notRun: 0 });
  });

  it("hands what check found to setupBatch", async () => {
    const root = batchRoot(["true"]);
    let handed: unknown;
    const { execenv } = memoryExecEnv({
      check: () => "the backend check found",
      setupBatch: (_ctx, found) => {
        handed = found;
        return "state";
      },
    });
    expect((await execute(root, execenv)).exitCode).toBe(0);
    expect(handed).toBe("the backend check found");
  });

  it("per-exp: each experiment set up, executed and torn down before the next", async () => {
    const root = batchRoot(["true"], ["true", "true"]);
    const { execenv, calls } = memoryExecEnv();
    const result = await execute(root, execenv, { execParallelismParadigm: "per-exp" });
    expect(calls).toEqual([
      "check",
      "setupBatch",
      "setupExperiment:exp0",
      "execute:exp0/run0",
      "teardownExperiment:exp0",
      "setupExperiment:exp1",
      "execute:exp1/run0,exp1/run1",
      "teardownExperiment:exp1",
      "teardownBatch:state",
      "cleanup:execute:exp1",
      "cleanup:execute:exp0",
      "cleanup:setupBatch",
    ]);
    expect(result.exitCode).toBe(0);
  });

  it("writes one record per run, with the execenv's name and the first attempt", async () => {
    const root = batchRoot(["true", "exit 3"]);
    const { execenv } = memoryExecEnv();
    const result = await execute(root, execenv);
    expect(readRecords(root)).toMatchObject([
      { exp: "exp0", run: 0, command: "true", exitCode: 0, attempt: 1, execenv: "memory" },
      { exp: "exp0", run: 1, command: "exit 3", exitCode: 3, attempt: 1, execenv: "memory" },
    ]);
    expect(result).toMatchObject({ exitCode: 1, succeeded: 1, notRun: 0 });
    expect(result.failed.map((record) => record.run)).toEqual([1]);
  });

  it("calls no hook for an empty selection", async () => {
    const root = batchRoot(["true"]);
    const { execenv, calls } = memoryExecEnv();
    await execute(root, execenv);
    calls.length = 0;
    const result = await execute(root, execenv, { execResume: true });
    expect(calls).toEqual([]);
    expect(result).toMatchObject({ exitCode: 0, succeeded: 0, notRun: 0 });
  });
});

describe("executeBatch: tear-down after a failed set-up", () => {
  it("a failed check sets nothing up and tears nothing down, but runs the clean-ups", async () => {
    const root = batchRoot(["true"]);
    const { execenv, calls } = memoryExecEnv({
      check: (ctx) => {
        ctx.onCleanup(() => {
          calls.push("cleanup:check");
        });
        throw new SierraError("no backend");
      },
    });
    const result = await execute(root, execenv);
    expect(calls).toEqual(["check", "cleanup:check"]);
    expect(result.exitCode).toBe(2);
    expect((result.error as Error).message).toBe("no backend");
  });

  it("a failed setupBatch still gets teardownBatch, with no state, and executes nothing", async () => {
    const root = batchRoot(["true"]);
    const { execenv, calls } = memoryExecEnv({
      setupBatch: () => {
        throw new Error("setup failed");
      },
    });
    const result = await execute(root, execenv);
    expect(calls).toEqual(["check", "setupBatch", "teardownBatch:undefined", "cleanup:setupBatch"]);
    expect(result).toMatchObject({ exitCode: 2, succeeded: 0, notRun: 1 });
  });

  it("a failed setupExperiment tears down every experiment whose set-up was called, it included", async () => {
    const root = batchRoot(["true"], ["true"], ["true"]);
    const { execenv, calls } = memoryExecEnv({
      setupExperiment: (experiment) => {
        if (experiment.name === "exp1") throw new Error("exp1 set-up failed");
      },
    });
    const result = await execute(root, execenv);
    expect(calls).toEqual([
      "check",
      "setupBatch",
      "setupExperiment:exp0",
      "setupExperiment:exp1",
      "teardownExperiment:exp1",
      "teardownExperiment:exp0",
      "teardownBatch:state",
      "cleanup:setupBatch",
    ]);
    expect(result).toMatchObject({ exitCode: 2, notRun: 3 });
    expect((result.error as Error).message).toBe("exp1 set-up failed");
  });

  it("a failed execute still tears down; a later tear-down error is a warning, the first error stands", async () => {
    const root = batchRoot(["true"]);
    const { log, lines } = logger();
    const { execenv, calls } = memoryExecEnv({
      execute: () => Promise.reject(new Error("backend lost")),
      teardownBatch: () => {
        throw new Error("teardown failed");
      },
    });
    const result = await execute(root, execenv, {}, { log });
    expect(calls.slice(-4)).toEqual([
      "teardownExperiment:exp0",
      "teardownBatch:state",
      "cleanup:execute:exp0",
      "cleanup:setupBatch",
    ]);
    expect((result.error as Error).message).toBe("backend lost");
    expect(lines).toContain("warn clean-up: teardown failed");
    expect(result.exitCode).toBe(2);
  });
});

describe("executeBatch: runs the execenv does not finish", () => {
  it('records a started run without an end as "reported no end", a failure', async () => {
    const root = batchRoot(["true", "true"]);
    const { execenv, runOne } = memoryExecEnv({
      execute: async (runs, ctx) => {
        const [first, second] = runs;
        if (first) runOne(first, ctx);
        if (second) ctx.runStarted(second);
      },
    });
    const result = await execute(root, execenv);
    const records = readRecords(root);
    expect(records).toHaveLength(2);
    expect(records[1]).toMatchObject({
      run: 1,
      exitCode: null,
      signal: null,
      error: "execenv memory reported no end",
    });
    expect(result).toMatchObject({ exitCode: 1, succeeded: 1, notRun: 0 });
  });

  it("counts runs that never started as not run, exit 1, with no record", async () => {
    const root = batchRoot(["true", "true", "true"]);
    const { execenv, runOne } = memoryExecEnv({
      execute: async (runs, ctx) => {
        if (runs[0]) runOne(runs[0], ctx);
      },
    });
    const result = await execute(root, execenv);
    expect(readRecords(root)).toHaveLength(1);
    expect(result).toMatchObject({ exitCode: 1, succeeded: 1, failed: [], notRun: 2 });
  });

  it("keeps the first report of a run's end", async () => {
    const root = batchRoot(["true"]);
    const { execenv } = memoryExecEnv({
      execute: async ([run], ctx) => {
        if (!run) return;
        ctx.runStarted(run);
        ctx.runEnded(run, { exitCode: 0, signal: null });
        ctx.runEnded(run, { exitCode: null, signal: "SIGKILL" });
      },
    });
    const result = await execute(root, execenv);
    expect(readRecords(root)).toMatchObject([{ exitCode: 0, signal: null }]);
    expect(result.exitCode).toBe(0);
  });
});

describe("executeBatch: --exec-strict", () => {
  it("aborts ctx.signal at the first failed run: no run starts after it, exit 1", async () => {
    const root = batchRoot(["true", "exit 1", "true"], ["true"]);
    const { execenv, started, calls } = memoryExecEnv();
    const result = await execute(root, execenv, { execStrict: true, execParallelismParadigm: "per-exp" });
    expect(started).toEqual(["exp0/run0", "exp0/run1"]);
    // The next experiment is not set up either.
    expect(calls).not.toContain("setupExperiment:exp1");
    expect(result).toMatchObject({ exitCode: 1, succeeded: 1, notRun: 2 });
    expect(result.stoppedBy).toMatchObject({ kind: "strict", run: { id: "exp0/run1" } });
  });

  it("without --exec-strict, a failed run stops nothing", async () => {
    const root = batchRoot(["true", "exit 1", "true"], ["true"]);
    const { execenv, started } = memoryExecEnv();
    const result = await execute(root, execenv, { execParallelismParadigm: "per-exp" });
    expect(started).toHaveLength(4);
    expect(result).toMatchObject({ exitCode: 1, succeeded: 3, notRun: 0 });
    expect(result.stoppedBy).toBeUndefined();
  });

  it("a signal during a strict stop decides the exit status", async () => {
    const root = batchRoot(["exit 1", "true"]);
    const outside = new AbortController();
    const { execenv, runOne } = memoryExecEnv({
      execute: async ([failing], ctx) => {
        // The user presses Ctrl-C while the execenv stops its runs for --exec-strict.
        ctx.signal.addEventListener("abort", () => outside.abort("SIGINT"), { once: true });
        if (failing) runOne(failing, ctx);
      },
    });
    const result = await execute(root, execenv, { execStrict: true }, { signal: outside.signal });
    expect(result.stoppedBy).toEqual({ kind: "signal", signal: "SIGINT" });
    expect(result.exitCode).toBe(130);
  });

  it("a failure after a signal does not turn the stop into a strict one", async () => {
    const root = batchRoot(["true", "true"]);
    const outside = new AbortController();
    const { execenv } = memoryExecEnv({
      execute: async ([run], ctx) => {
        if (!run) return;
        ctx.runStarted(run);
        outside.abort("SIGTERM");
        // The stopped run ends by the signal: a failed run under --exec-strict.
        ctx.runEnded(run, { exitCode: null, signal: "SIGTERM" });
      },
    });
    const result = await execute(root, execenv, { execStrict: true }, { signal: outside.signal });
    expect(result.stoppedBy).toEqual({ kind: "signal", signal: "SIGTERM" });
    expect(result.exitCode).toBe(143);
  });
});

describe("executeBatch: signals", () => {
  it("stops on a process signal, exits 128 + its number, and removes its handlers", async () => {
    const root = batchRoot(["true", "true"]);
    const before = process.listenerCount("SIGHUP");
    const { execenv, started } = memoryExecEnv({
      execute: async (runs, ctx) => {
        for (const run of runs) {
          if (ctx.signal.aborted) break;
          started.push(run.id);
          ctx.runStarted(run);
          // No real signal: emitting the event is what the handler sees.
          process.emit("SIGHUP", "SIGHUP");
          ctx.runEnded(run, { exitCode: null, signal: "SIGHUP" });
        }
      },
    });
    const result = await execute(root, execenv, {}, { handleSignals: true });
    expect(started).toEqual(["exp0/run0"]);
    expect(result).toMatchObject({
      exitCode: 129,
      notRun: 1,
      stoppedBy: { kind: "signal", signal: "SIGHUP" },
    });
    expect(process.listenerCount("SIGHUP")).toBe(before);
  });

  it("an already aborted signal stops after the check, before anything is set up", async () => {
    const root = batchRoot(["true"]);
    const { execenv, calls } = memoryExecEnv();
    const result = await execute(root, execenv, {}, { signal: AbortSignal.abort("SIGINT") });
    expect(calls).toEqual(["check"]);
    expect(result).toMatchObject({ exitCode: 130, notRun: 1 });
  });
});

describe("executeBatch: exit status precedence (signal > error 2 > failures 1 > 0)", () => {
  const failThenThrow = (signal?: AbortController) =>
    memoryExecEnv({
      execute: async ([run], ctx) => {
        if (!run) return;
        ctx.runStarted(run);
        ctx.runEnded(run, { exitCode: 1, signal: null });
        signal?.abort("SIGTERM");
        throw new Error("backend lost");
      },
    }).execenv;

  it("a signal outranks an error and failures", async () => {
    const outside = new AbortController();
    const result = await execute(batchRoot(["true"]), failThenThrow(outside), {}, { signal: outside.signal });
    expect(result.error).toBeInstanceOf(Error);
    expect(result.failed).toHaveLength(1);
    expect(result.exitCode).toBe(143);
  });

  it("an error outranks failures", async () => {
    const result = await execute(batchRoot(["true"]), failThenThrow());
    expect(result.failed).toHaveLength(1);
    expect(result.exitCode).toBe(2);
  });

  it("an error in a clean-up alone is exit 2", async () => {
    const { execenv } = memoryExecEnv({
      setupBatch: (ctx) => {
        ctx.onCleanup(() => {
          throw new Error("could not remove the work pool");
        });
        return "state";
      },
    });
    const result = await execute(batchRoot(["true"]), execenv);
    expect(result).toMatchObject({ exitCode: 2, succeeded: 1 });
  });
});

describe("executeBatch: capabilities", () => {
  it.each([
    [{ resume: false }, { execResume: true }, "--exec-resume is not supported by execenv memory"],
    [{ strictStop: false }, { execStrict: true }, "--exec-strict is not supported by execenv memory"],
    [{ perRunLogs: false }, {}, "execenv memory cannot run without --exec-devnull"],
  ] as const)("refuses %o with %o before any hook runs", async (capabilities, raw, message) => {
    const root = batchRoot(["true"]);
    const { execenv, calls } = memoryExecEnv({}, capabilities);
    const run = execute(root, execenv, raw);
    await expect(run).rejects.toThrow(SierraError);
    await expect(run).rejects.toThrow(message);
    expect(calls).toEqual([]);
  });

  it("runs an execenv without per-run logs under --exec-devnull", async () => {
    const { execenv } = memoryExecEnv({}, { perRunLogs: false });
    const result = await execute(batchRoot(["true"]), execenv, { execDevnull: true });
    expect(result.exitCode).toBe(0);
  });
});

describe("executeBatch: --exec-resume", () => {
  it("runs again only what did not succeed or changed its command, and appends attempts", async () => {
    const root = batchRoot(["true", "exit 1", "true"]);
    const first = memoryExecEnv();
    expect((await execute(root, first.execenv)).exitCode).toBe(1);

    const cmdfile = path.join(root, "exp-inputs", "exp0", "commands.txt");
    writeFileSync(cmdfile, "true\nexit 1\necho changed\n");
    const second = memoryExecEnv();
    const result = await execute(root, second.execenv, { execResume: true });
    expect(second.started).toEqual(["exp0/run1", "exp0/run2"]);
    expect(result).toMatchObject({ exitCode: 1, succeeded: 1 });
    expect(readRecords(root).map(({ run, attempt }) => [run, attempt])).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
      [1, 2],
      [2, 2],
    ]);

    // Without --exec-resume the records start afresh.
    await execute(root, memoryExecEnv().execenv);
    expect(readRecords(root).map(({ run, attempt }) => [run, attempt])).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
    ]);
  });

  it("without it, --exp-range forgets only the selected experiments' records (SIERRA's per-exp calls)", async () => {
    const root = batchRoot(["true", "exit 1"], ["true"], ["exit 2"]);
    expect((await execute(root, memoryExecEnv().execenv)).exitCode).toBe(1);
    const joblog = () => readFileSync(joblogPath(root), "utf8").trim().split("\n");
    expect(joblog()).toHaveLength(5);

    await execute(root, memoryExecEnv().execenv, { expRange: "1:1" });
    const records = readRecords(root);
    expect(records.map(({ exp, run, attempt }) => `${exp}/run${run}#${attempt}`)).toEqual([
      "exp0/run0#1",
      "exp0/run1#1",
      "exp2/run0#1",
      "exp1/run0#1",
    ]);
    // The joblog likewise: its header, exp0's and exp2's lines (Seq 1, 2, 4), exp1's anew (Seq 3).
    expect(joblog().map((line) => line.split("\t")[0])).toEqual(["Seq", "1", "2", "4", "3"]);
  });
});
