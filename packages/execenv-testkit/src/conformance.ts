// The conformance suite: the whole execution contract, checked against one execenv with
// real processes through the core's executeBatch, from the plugin author's vitest.
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type CapabilityName,
  type CoreOptions,
  coreOptionsSchema,
  type ExecEnv,
  executeBatch,
  joblogPath,
  markedProcesses,
  parseOptions,
  planBatch,
} from "@sierra-exec/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeBatch } from "./batch-fixture.js";
import { maxOverlap, readInterval, timedSleep } from "./overlap.js";
import { commandLine, waitFor } from "./processes.js";
import { readRecords } from "./records.js";

export interface ConformanceOptions {
  /** The execenv's own options by property name, as its schema takes them, e.g. `{ killGrace: 0.5 }`. */
  options?: Record<string, unknown>;
  /** Time limit of each check in ms; raise it for backends that are slow to start (default 60 000). */
  timeout?: number;
  /** Seconds each run of the concurrency checks sleeps; raise it when runs start slowly (default 2). */
  runSeconds?: number;
  /** Runs at once in the concurrency check (default 3). */
  jobs?: number;
}

/** Set in this process's environment while the suite runs; every process the execenv starts inherits it. */
export const MARKER_VARIABLE = "SIERRA_TESTKIT_MARKER";

/** A run that ignores TERM and leaves a grandchild that ignores it too: only KILL of the whole tree stops it. */
const STUBBORN = 'touch "$SIERRA_BATCH_ROOT/started-$SIERRA_RUN"; trap "" TERM; sleep 300 & sleep 300; wait';

/** Options that need a capability: an execenv without it must refuse them. */
const REFUSALS: ReadonlyArray<{
  capability: CapabilityName;
  core: Partial<CoreOptions>;
  flag: string;
  what: string;
}> = [
  { capability: "resume", core: { execResume: true }, flag: "--exec-resume", what: "--exec-resume" },
  { capability: "strictStop", core: { execStrict: true }, flag: "--exec-strict", what: "--exec-strict" },
  {
    capability: "perRunLogs",
    core: { execDevnull: false },
    flag: "--exec-devnull",
    what: "a run without --exec-devnull",
  },
];

const lines = (file: string) => readFileSync(file, "utf8").trim().split("\n");

/** Signals that end a `bash -c` run, by the names bash's `kill -l` gives them: some with no name in Node or Python. */
const ENDING_SIGNALS: ReadonlyArray<[number, string]> = [
  [1, "SIGHUP"],
  [10, "SIGUSR1"],
  [34, "SIGRTMIN"],
  [35, "SIGRTMIN+1"],
  [49, "SIGRTMIN+15"],
  [50, "SIGRTMAX-14"],
  [63, "SIGRTMAX-1"],
  [64, "SIGRTMAX"],
];

/** Variables a run's environment may have beyond the caller's: the contract's, the batch marker, bash's own. */
const RUN_VARIABLES = new Set([
  "SIERRA_BATCH_ROOT",
  "SIERRA_EXP",
  "SIERRA_RUN",
  "SIERRA_EXEC_ID",
  "PWD",
  "SHLVL",
  "_",
]);

/**
 * Declares a vitest suite that runs batches on `execenv` and checks the execution
 * contract: layout and environment, outputs, records, exit statuses, the exact
 * concurrency cap, both parallelism paradigms, resume, strict stop, cancellation reaching
 * grandchildren, and that nothing the execenv started is left after any batch, also
 * processes that left their run's process group or session (not checked for remote execenvs). A
 * capability the execenv does not declare is checked to be refused instead.
 */
export function describeExecEnvConformance(execenv: ExecEnv, settings: ConformanceOptions = {}): void {
  // 2 s: on a loaded 2-core machine, starting 4 runs took more than 1 s (the per-batch check saw 3 overlap).
  const { timeout = 60_000, runSeconds = 2, jobs = 3 } = settings;
  const { capabilities } = execenv;
  const local = !capabilities.remote;
  const marker = `sierra-testkit-${randomUUID()}`;
  const leftovers = () => markedProcesses(MARKER_VARIABLE, marker).map((pid) => `${pid} ${commandLine(pid)}`);

  /** Runs the batch at `root` as the CLI would, without touching this process's signals. */
  async function run(root: string, core: Partial<CoreOptions> = {}, signal?: AbortSignal) {
    const coreOptions = coreOptionsSchema.parse({
      execenv: execenv.name,
      batchRoot: root,
      execJobsPerNode: 2,
      execDevnull: !capabilities.perRunLogs,
      ...core,
    });
    const messages: string[] = [];
    const result = await executeBatch({
      plan: planBatch(coreOptions),
      execenv,
      options: parseOptions(execenv.options, settings.options ?? {}),
      core: coreOptions,
      log: {
        info: (message) => messages.push(message),
        warn: (message) => messages.push(`warning: ${message}`),
        debug: () => {},
      },
      handleSignals: false,
      ...(signal ? { signal } : {}),
    });
    expect(result.error, `the batch ended in an error; its log:\n${messages.join("\n")}`).toBeUndefined();
    if (local) expect(leftovers(), "processes the execenv started, left after the batch").toEqual([]);
    return result;
  }

  describe(`execenv ${execenv.name}: the execution contract`, () => {
    let saved: string | undefined;
    beforeAll(() => {
      saved = process.env[MARKER_VARIABLE];
      process.env[MARKER_VARIABLE] = marker;
    });
    afterAll(() => {
      if (saved === undefined) delete process.env[MARKER_VARIABLE];
      else process.env[MARKER_VARIABLE] = saved;
    });
    // A check that failed may leave the execenv's processes behind: never let them outlive
    // it (the checks themselves already failed on them).
    afterEach(() => {
      for (const pid of markedProcesses(MARKER_VARIABLE, marker)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }
    });

    it(
      "runs every line in its experiment's directory, with the caller's environment and SIERRA_*",
      async () => {
        const probe = `printf '%s\\n' "$SIERRA_EXP" "$SIERRA_RUN" "$SIERRA_BATCH_ROOT" "$(pwd)" "$${MARKER_VARIABLE}" > "$SIERRA_BATCH_ROOT/env-$SIERRA_EXP-$SIERRA_RUN"`;
        const root = makeBatch({ "c1-exp2": ["# a comment", "", probe, probe], "c1-exp10": [probe] });
        const result = await run(root);
        expect(result.exitCode).toBe(0);
        const expected = [
          ["c1-exp2", 0, path.join(root, "exp-inputs/c1-exp2")],
          ["c1-exp2", 1, path.join(root, "exp-inputs/c1-exp2")],
          ["c1-exp10", 0, path.join(root, "exp-inputs/c1-exp10")],
        ] as const;
        for (const [exp, index, cwd] of expected) {
          expect(lines(path.join(root, `env-${exp}-${index}`))).toEqual([
            exp,
            String(index),
            root,
            cwd,
            marker,
          ]);
        }
        const records = readRecords(root);
        expect(records.map((r) => [r.exp, r.run]).sort()).toEqual(expected.map(([e, i]) => [e, i]).sort());
        for (const record of records) {
          expect(record).toMatchObject({
            command: probe,
            exitCode: 0,
            signal: null,
            attempt: 1,
            execenv: execenv.name,
          });
          expect(Date.parse(record.finishedAt) - Date.parse(record.startedAt)).toBe(record.durationMs);
        }
      },
      timeout,
    );

    it(
      "runs a per-batch cmdfile's lines as runs of the experiments they name, in the batch root",
      async () => {
        const probe = (tag: string) =>
          `printf '%s\\n' "$SIERRA_EXP" "$SIERRA_RUN" "$(pwd)" > "$SIERRA_BATCH_ROOT/env-${tag}"`;
        const root = makeBatch({});
        mkdirSync(path.join(root, "exp-inputs/e0"), { recursive: true });
        mkdirSync(path.join(root, "exp-inputs/e1"), { recursive: true });
        writeFileSync(
          path.join(root, "commands.txt"),
          [
            `${probe("x")} # ${root}/exp-inputs/e1/in`,
            `${probe("y")} # ${root}/exp-inputs/e1/in`,
            probe("z"),
          ].join("\n"),
        );
        expect((await run(root)).exitCode).toBe(0);
        expect(lines(path.join(root, "env-x"))).toEqual(["e1", "0", root]);
        expect(lines(path.join(root, "env-y"))).toEqual(["e1", "1", root]);
        expect(lines(path.join(root, "env-z"))).toEqual(["_batch", "0", root]);
      },
      timeout,
    );

    if (capabilities.perRunLogs)
      it(
        "keeps each run's stdout and stderr in its files, and none with --exec-devnull",
        async () => {
          const root = makeBatch({ a: ["echo out; echo err >&2", "printf 'no newline'"] });
          expect((await run(root)).exitCode).toBe(0);
          expect(readFileSync(path.join(root, "scratch/a/run0/stdout"), "utf8")).toBe("out\n");
          expect(readFileSync(path.join(root, "scratch/a/run0/stderr"), "utf8")).toBe("err\n");
          expect(readFileSync(path.join(root, "scratch/a/run1/stdout"), "utf8")).toBe("no newline");
          const quiet = makeBatch({ a: ["echo out; echo err >&2"] });
          expect((await run(quiet, { execDevnull: true })).exitCode).toBe(0);
          expect(existsSync(path.join(quiet, "scratch/a/run0/stdout"))).toBe(false);
          expect(existsSync(path.join(quiet, "scratch/a/run0/stderr"))).toBe(false);
        },
        timeout,
      );

    it(
      "records each run's exit status or signal, one record and one joblog line per run",
      async () => {
        const root = makeBatch({ a: ["exit 0", "exit 3", "kill -TERM $$"] });
        const result = await run(root, { execJobsPerNode: 3 });
        expect(result.exitCode).toBe(1);
        expect(result.failed).toHaveLength(2);
        const records = readRecords(root).sort((x, y) => x.run - y.run);
        expect(records.map((r) => [r.run, r.exitCode, r.signal])).toEqual([
          [0, 0, null],
          [1, 3, null],
          [2, null, "SIGTERM"],
        ]);
        expect(lines(joblogPath(root))).toHaveLength(4);
      },
      timeout,
    );

    it(
      "records any signal 1-64 that ends a run by the name bash gives it, and the batch goes on",
      async () => {
        const commands = ENDING_SIGNALS.map(([number]) => `kill -${number} $$`);
        const root = makeBatch({ a: [...commands, 'touch "$SIERRA_BATCH_ROOT/after"'] });
        const result = await run(root, { execJobsPerNode: 2 });
        expect(result.exitCode).toBe(1);
        expect(result.failed).toHaveLength(ENDING_SIGNALS.length);
        const records = readRecords(root).sort((x, y) => x.run - y.run);
        expect(records.map((r) => [r.exitCode, r.signal])).toEqual([
          ...ENDING_SIGNALS.map(([, name]) => [null, name]),
          [0, null],
        ]);
        expect(existsSync(path.join(root, "after"))).toBe(true);
      },
      timeout,
    );

    it(
      "runs each cmdfile line's exact bytes, UTF-8 or not, and records it as text",
      async () => {
        const odd = Buffer.from([0xff, 0xe9, 0xe2, 0x82]);
        const root = makeBatch({
          a: Buffer.concat([
            Buffer.from(`printf '%s' '`),
            odd,
            Buffer.from(`' > "$SIERRA_BATCH_ROOT/odd"\nprintf '%s' 'café ✓' > "$SIERRA_BATCH_ROOT/utf8"\n`),
          ]),
        });
        expect((await run(root)).exitCode).toBe(0);
        expect(readFileSync(path.join(root, "odd"))).toEqual(odd);
        expect(readFileSync(path.join(root, "utf8"), "utf8")).toBe("café ✓");
        const records = readRecords(root).sort((x, y) => x.run - y.run);
        expect(records[0]?.command).toBe(`printf '%s' '\ufffd\ufffd\ufffd\ufffd' > "$SIERRA_BATCH_ROOT/odd"`);
      },
      timeout,
    );

    // On a remote backend the scheduler adds its own variables (SLURM_JOB_ID and the like).
    if (local)
      it(
        "gives runs the caller's environment exactly: nothing the execenv needs for itself (PYTHONPATH and the like)",
        async () => {
          const root = makeBatch({ a: ['env -0 > "$SIERRA_BATCH_ROOT/env"'] });
          const saved = process.env.PYTHONPATH;
          process.env.PYTHONPATH = "/nonexistent/the-callers-pythonpath";
          try {
            expect((await run(root)).exitCode).toBe(0);
          } finally {
            if (saved === undefined) delete process.env.PYTHONPATH;
            else process.env.PYTHONPATH = saved;
          }
          const seen = Object.fromEntries(
            readFileSync(path.join(root, "env"), "utf8")
              .split("\0")
              .filter(Boolean)
              .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)])
              .filter(([name]) => !RUN_VARIABLES.has(name as string)),
          );
          const caller = Object.fromEntries(
            Object.entries(process.env).filter(([name]) => !RUN_VARIABLES.has(name)),
          );
          expect(seen).toEqual({ ...caller, PYTHONPATH: "/nonexistent/the-callers-pythonpath" });
        },
        timeout,
      );

    it(
      `runs exactly --exec-jobs-per-node at once (${jobs}), measured from the runs' own clocks`,
      async () => {
        const root = makeBatch({
          a: Array(2 * jobs).fill(timedSleep(runSeconds, "$SIERRA_BATCH_ROOT/t-$SIERRA_RUN")),
        });
        expect((await run(root, { execJobsPerNode: jobs })).exitCode).toBe(0);
        const intervals = Array.from({ length: 2 * jobs }, (_, i) => readInterval(path.join(root, `t-${i}`)));
        expect(maxOverlap(intervals)).toBe(jobs);
      },
      timeout,
    );

    it(
      "per-exp runs experiments one after another; per-batch shares one pool",
      async () => {
        const command = timedSleep(runSeconds, "$SIERRA_BATCH_ROOT/t-$SIERRA_EXP-$SIERRA_RUN");
        const experiments = { e0: [command, command], e1: [command, command] };
        const spans = (root: string, exp: string) =>
          [0, 1].map((i) => readInterval(path.join(root, `t-${exp}-${i}`)));

        const perExp = makeBatch(experiments);
        const core = { execJobsPerNode: 4, execParallelismParadigm: "per-exp" } as const;
        expect((await run(perExp, core)).exitCode).toBe(0);
        const lastEnd = Math.max(...spans(perExp, "e0").map(([, end]) => end));
        expect(Math.min(...spans(perExp, "e1").map(([start]) => start))).toBeGreaterThanOrEqual(lastEnd);

        const perBatch = makeBatch(experiments);
        expect((await run(perBatch, { ...core, execParallelismParadigm: "per-batch" })).exitCode).toBe(0);
        expect(maxOverlap([...spans(perBatch, "e0"), ...spans(perBatch, "e1")])).toBe(4);
      },
      timeout,
    );

    if (capabilities.resume)
      it(
        "--exec-resume runs only what did not succeed, counting attempts",
        async () => {
          const count = 'echo x >> "$SIERRA_BATCH_ROOT/count-$SIERRA_RUN"';
          const root = makeBatch({ a: [count, `${count}; test -f "$SIERRA_BATCH_ROOT/fixed"`, count] });
          expect((await run(root)).exitCode).toBe(1);
          writeFileSync(path.join(root, "fixed"), "");
          const resumed = await run(root, { execResume: true });
          expect(resumed.exitCode).toBe(0);
          expect(resumed.succeeded).toBe(1);
          const executions = [0, 1, 2].map((i) => lines(path.join(root, `count-${i}`)).length);
          expect(executions).toEqual([1, 2, 1]);
          const records = readRecords(root);
          expect(records).toHaveLength(4);
          expect(records[3]).toMatchObject({ exp: "a", run: 1, exitCode: 0, attempt: 2 });
        },
        timeout,
      );

    if (capabilities.strictStop)
      it(
        "--exec-strict: at the first failure starts no new run and stops the running ones",
        async () => {
          // Run 0 fails once run 1 is surely running; runs 2 and 3 must never start.
          const root = makeBatch({
            a: [
              'until [ -f "$SIERRA_BATCH_ROOT/started-1" ]; do sleep 0.05; done; exit 7',
              'touch "$SIERRA_BATCH_ROOT/started-1"; sleep 300',
              'touch "$SIERRA_BATCH_ROOT/started-2"',
              'touch "$SIERRA_BATCH_ROOT/started-3"',
            ],
          });
          const result = await run(root, { execStrict: true, execJobsPerNode: 2 });
          expect(result.exitCode).toBe(1);
          expect(result.stoppedBy).toMatchObject({ kind: "strict" });
          expect(result.notRun).toBe(2);
          const records = readRecords(root).sort((x, y) => x.run - y.run);
          expect(records.map((r) => r.run)).toEqual([0, 1]);
          expect(records[0]).toMatchObject({ exitCode: 7, signal: null });
          expect(records[1]?.exitCode).not.toBe(0);
          expect(existsSync(path.join(root, "started-2")) || existsSync(path.join(root, "started-3"))).toBe(
            false,
          );
        },
        timeout,
      );

    if (capabilities.cancellation)
      it(
        "on SIGTERM stops every running run with its children and grandchildren, and starts no other",
        async () => {
          const root = makeBatch({ a: [STUBBORN, STUBBORN, STUBBORN] });
          const controller = new AbortController();
          const done = run(root, { execJobsPerNode: 2 }, controller.signal);
          const budget = timeout / 3;
          await waitFor(
            () => existsSync(path.join(root, "started-0")) && existsSync(path.join(root, "started-1")),
            "two runs to start",
            budget,
          );
          if (local) {
            // Each run and its grandchild: four sleeps.
            const sleeping = () =>
              markedProcesses(MARKER_VARIABLE, marker).filter((pid) => commandLine(pid) === "sleep 300")
                .length;
            await waitFor(() => sleeping() === 4, "the runs' children and grandchildren to start", budget);
          }
          controller.abort("SIGTERM");
          const result = await Promise.race([done, sleep(budget, "late" as const, { ref: false })]);
          if (result === "late") {
            throw new Error(
              `the batch did not end within ${budget} ms of SIGTERM: its runs were not stopped`,
            );
          }
          expect(result.exitCode).toBe(143);
          expect(result.notRun).toBe(1);
          const records = readRecords(root);
          expect(records.map((r) => r.run).sort()).toEqual([0, 1]);
          for (const record of records) expect(record.exitCode).not.toBe(0);
          expect(existsSync(path.join(root, "started-2"))).toBe(false);
        },
        timeout,
      );

    // Processes that left their run's process group and session (daemons) are found by
    // the batch's marker in their environment, which core sweeps after every batch.
    if (local)
      it(
        "after any stop (end of batch, --exec-strict, SIGINT) nothing a run started is left, also what left its session",
        async () => {
          const daemon =
            'setsid sleep 300 < /dev/null > /dev/null 2>&1 & touch "$SIERRA_BATCH_ROOT/started-$SIERRA_RUN"';
          // run() checks after each batch that no process carrying the suite's marker is left.
          const ended = makeBatch({ a: [`${daemon}; exit 0`] });
          expect((await run(ended)).exitCode).toBe(0);

          if (capabilities.strictStop) {
            const strict = makeBatch({
              a: [
                `${daemon}; until [ -f "$SIERRA_BATCH_ROOT/started-1" ]; do sleep 0.05; done; exit 7`,
                `${daemon}; sleep 300`,
              ],
            });
            expect((await run(strict, { execStrict: true })).exitCode).toBe(1);
          }

          if (capabilities.cancellation) {
            const root = makeBatch({ a: [`${daemon}; sleep 300`, `${daemon}; sleep 300`] });
            const controller = new AbortController();
            const done = run(root, {}, controller.signal);
            await waitFor(
              () => existsSync(path.join(root, "started-0")) && existsSync(path.join(root, "started-1")),
              "two runs to start their daemons",
              timeout / 3,
            );
            controller.abort("SIGINT");
            expect((await done).exitCode).toBe(130);
          }
        },
        timeout,
      );

    // What the execenv declares it cannot do must be refused, not ignored.
    for (const { capability, core, flag, what } of REFUSALS) {
      if (capabilities[capability]) continue;
      it(
        `refuses ${what} (it lacks capability ${capability})`,
        async () => {
          await expect(run(makeBatch({ a: ["true"] }), core)).rejects.toThrow(flag);
        },
        timeout,
      );
    }
  });
}
