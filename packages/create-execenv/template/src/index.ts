// The __EXECENV_NAME__ execenv for sierra-exec. As generated, it runs each experimental run
// with `bash -c` in its own process group on this machine, at most `--exec-jobs-per-node`
// at a time: a working start that passes the conformance testkit. Make `execute` submit runs
// to your backend instead, declare what it can do in `capabilities`, and keep the tests green.
import { mkdirSync } from "node:fs";
import path from "node:path";
import {
  defineExecEnv,
  type ExecuteContext,
  killGraceOption,
  type Run,
  spawnGroup,
  stopProcessGroup,
  z,
} from "@sierra-exec/core";

/** This execenv's own options: each becomes a `--kebab-case` flag of `sierra`. */
export const optionsSchema = z.object({
  killGrace: killGraceOption,
});

type Context = ExecuteContext<z.output<typeof optionsSchema>, undefined>;

/** Runs one run to its end, then stops whatever it left running in its process group. */
async function runOne(run: Run, ctx: Context, groups: Set<number>): Promise<void> {
  for (const file of [run.stdout, run.stderr]) if (file) mkdirSync(path.dirname(file), { recursive: true });
  const { child } = await spawnGroup("bash", ["-c", run.command], {
    cwd: run.cwd,
    env: run.env,
    stdin: "ignore",
    stdout: run.stdout ? { file: run.stdout } : "ignore",
    stderr: run.stderr ? { file: run.stderr } : "ignore",
  });
  const pgid = child.pid;
  if (pgid !== undefined) {
    groups.add(pgid);
    ctx.runStarted(run, { pid: pgid });
  }
  const result = await child;
  if (pgid !== undefined) {
    await stopProcessGroup(pgid, { graceMs: ctx.options.killGrace * 1000 });
    groups.delete(pgid);
  }
  ctx.runEnded(run, {
    exitCode: result.exitCode ?? null,
    signal: result.signal ?? null,
    ...(pgid === undefined ? { error: `could not start: ${result.shortMessage}` } : {}),
  });
}

export default defineExecEnv({
  name: "__EXECENV_NAME__",
  description: "__DESCRIPTION__",
  options: optionsSchema,
  // What this execenv can do; `sierra` refuses options that need anything declared false.
  capabilities: { resume: true, strictStop: true, cancellation: true, perRunLogs: true, remote: false },
  async execute(runs, ctx) {
    const groups = new Set<number>();
    const stopAll = () => {
      for (const pgid of groups) void stopProcessGroup(pgid, { graceMs: ctx.options.killGrace * 1000 });
    };
    ctx.signal.addEventListener("abort", stopAll);
    const running = new Set<Promise<void>>();
    try {
      for (const run of runs) {
        while (running.size >= ctx.jobs) await Promise.race(running);
        if (ctx.signal.aborted) break;
        const task: Promise<void> = runOne(run, ctx, groups).finally(() => running.delete(task));
        running.add(task);
      }
      await Promise.all(running);
    } finally {
      ctx.signal.removeEventListener("abort", stopAll);
    }
  },
});
