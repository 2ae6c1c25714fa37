// The __EXECENV_NAME__ execenv for sierra-exec. As generated, it runs each experimental run
// with `bash -c` in its own process group on this machine, at most `--exec-jobs-per-node`
// at a time: a working start that passes the conformance testkit. Make `execute` submit runs
// to your backend instead, declare what it can do in `capabilities`, and keep the tests green.
import {
  defineExecEnv,
  type ExecuteContext,
  killGraceOption,
  type Run,
  startRun,
  stopProcessGroup,
  z,
} from "@sierra-exec/core";

/** This execenv's own options: each becomes a `--kebab-case` flag of `sierra`. */
export const optionsSchema = z.object({
  killGrace: killGraceOption,
});

type Context = ExecuteContext<z.output<typeof optionsSchema>, undefined>;

/**
 * Runs one run to its end (core's startRun: `bash -c` with the line's exact bytes, in a
 * session of its own; what it leaves in its group is stopped with it).
 */
async function runOne(run: Run, ctx: Context, groups: Set<number>): Promise<void> {
  const { pid, outcome } = await startRun(run);
  if (pid !== undefined) {
    groups.add(pid);
    ctx.runStarted(run, { pid });
    // A stop that came while this run was starting did not see its group.
    if (ctx.signal.aborted) void stopProcessGroup(pid, { graceMs: ctx.options.killGrace * 1000 });
  }
  const end = await outcome;
  if (pid !== undefined) groups.delete(pid);
  ctx.runEnded(run, end);
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
