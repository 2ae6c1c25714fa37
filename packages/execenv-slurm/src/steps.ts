// Steps mode (inside an allocation): each run is a job step (`srun --exact`, one task) on a
// node of the allocation, at most --exec-jobs-per-node at once on each node. srun's stdin is
// a pipe from this process: closing it (a stop, or this process dying) stops the run.
import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { EXECUTION_MARKER, type ExecuteContext, OutputTail, type Run } from "@sierra-exec/core";
import { NodeSlots, srunArguments } from "./decisions.js";
import type { SlurmOptions } from "./options.js";
import type { RunFiles } from "./run-files.js";
import { RunTracker } from "./tracker.js";

export interface StepsSettings {
  files: RunFiles;
  nodes: readonly string[];
  jobName: string;
}

interface Step {
  run: Run;
  node: string;
  child: ChildProcess;
  /** What srun said last: quoted when it ends without its run's end file. */
  stderr: OutputTail;
  exited: boolean;
}

export async function executeSteps(
  runs: readonly Run[],
  ctx: ExecuteContext<SlurmOptions, unknown>,
  settings: StepsSettings,
): Promise<void> {
  const { files } = settings;
  const { options } = ctx;
  const tracker = new RunTracker(files, runs, ctx);
  const slots = new NodeSlots(settings.nodes, ctx.jobs);
  const manifest = files.writeManifest(runs);
  const queue = runs.map((run, index) => ({ run, index }));
  const steps = new Set<Step>();
  let wake = () => {};
  const stopping = () => ctx.signal.aborted || files.stopped;
  const onAbort = () => {
    for (const step of steps) step.child.stdin?.end();
    wake();
  };
  ctx.signal.addEventListener("abort", onAbort, { once: true });

  const launch = (run: Run, index: number, node: string) => {
    const args = [
      ...srunArguments(options, node, `${settings.jobName}-${run.id}`),
      options.python,
      "-S",
      files.wrapper,
      manifest,
      String(index),
      files.dir,
      String(options.killGrace),
      ctx.core.execStrict ? "strict" : "lenient",
      "steps",
    ];
    // Its own process group: a Ctrl-C on the terminal is this process's to handle, not srun's.
    const child = spawn("srun", args, {
      detached: true,
      stdio: ["pipe", "ignore", "pipe"],
      env: { ...process.env, [EXECUTION_MARKER]: ctx.executionId },
    });
    const step: Step = { run, node, child, stderr: new OutputTail(), exited: false };
    child.stdin?.on("error", () => {});
    child.stderr?.on("data", (chunk: Buffer) => step.stderr.push(chunk));
    const exited = (why?: Error) => {
      if (why) step.stderr.push(`\n${why.message}`);
      step.exited = true;
      wake();
    };
    child.once("error", exited);
    child.once("close", () => exited());
    steps.add(step);
  };

  try {
    while (queue.length > 0 || steps.size > 0) {
      while (!stopping() && queue.length > 0) {
        const node = slots.take();
        if (!node) break;
        const next = queue.shift() as (typeof queue)[number];
        launch(next.run, next.index, node);
      }
      if (stopping()) for (const { run } of queue.splice(0)) tracker.drop(run);
      await Promise.race([
        sleep(250),
        new Promise<void>((resolve) => {
          wake = resolve;
        }),
      ]);
      tracker.poll();
      for (const step of steps) {
        if (!step.exited) continue;
        steps.delete(step);
        slots.release(step.node);
        if (!tracker.isPending(step.run)) continue;
        tracker.poll();
        if (!tracker.isPending(step.run)) continue;
        const why = step.stderr.lastLine() || `srun exited with status ${step.child.exitCode}`;
        if (tracker.hasStarted(step.run)) {
          tracker.end(step.run, {
            exitCode: null,
            signal: null,
            error: `its step ended without a record: ${why}`,
          });
        } else if (stopping()) {
          tracker.drop(step.run);
        } else {
          tracker.end(step.run, { exitCode: null, signal: null, error: `could not start: ${why}` });
        }
      }
    }
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    for (const step of steps) step.child.stdin?.end();
  }
}
