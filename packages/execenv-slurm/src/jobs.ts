// Jobs mode (outside an allocation): the runs go to Slurm as job arrays that it throttles
// itself (`--array=0-N%T`), followed through the runs' files and squeue until each ended.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  EXECUTION_MARKER,
  type ExecuteContext,
  type Run,
  shellQuote,
  type Watchdog,
} from "@sierra-exec/core";
import {
  isTerminal,
  outcomeOfEndedJob,
  parseJobId,
  parseSqueue,
  parts,
  SQUEUE_FORMAT,
  sbatchArguments,
  slurmError,
} from "./decisions.js";
import type { SlurmOptions } from "./options.js";
import type { RunFiles } from "./run-files.js";
import { slurm } from "./slurm.js";
import { RunTracker } from "./tracker.js";

export interface JobsSettings {
  files: RunFiles;
  watchdog: Watchdog;
  throttle: number;
  maxArraySize: number;
  jobName: string;
}

/** How long a job may be over before its run's end file must be visible (shared filesystems lag). */
const FILE_LAG_MS = 3000;

export async function executeJobs(
  runs: readonly Run[],
  ctx: ExecuteContext<SlurmOptions, unknown>,
  settings: JobsSettings,
): Promise<void> {
  const { files, watchdog } = settings;
  const { options } = ctx;
  const tracker = new RunTracker(files, runs, ctx);
  const arrays: Array<{ id: string; runs: Run[] }> = [];
  let cancelled: Promise<unknown> | undefined;
  const cancel = () => {
    files.stop();
    cancelled ??=
      arrays.length > 0
        ? slurm(
            "scancel",
            arrays.map((array) => array.id),
          )
        : Promise.resolve();
    return cancelled;
  };
  const stopping = () => ctx.signal.aborted || files.stopped;
  const onAbort = () => void cancel();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    let after: string | undefined;
    for (const part of parts(runs, settings.maxArraySize - 1)) {
      if (ctx.signal.aborted) break;
      const manifest = files.writeManifest(part);
      const script = path.join(files.dir, `${path.basename(manifest, ".jsonl")}.sh`);
      writeFileSync(
        script,
        `#!/bin/sh\nexec ${shellQuote(options.python)} -S ${[files.wrapper, manifest, "array", files.dir, String(options.killGrace), ctx.core.execStrict ? "strict" : "lenient", "jobs"].map(shellQuote).join(" ")}\n`,
      );
      const submitted = await slurm(
        "sbatch",
        sbatchArguments({
          options,
          count: part.length,
          throttle: settings.throttle,
          jobName: settings.jobName,
          ...(after ? { after } : {}),
          output: path.join(files.dir, "slurm-%A_%a.out"),
          script,
        }),
        60_000,
        // The runs carry the batch's marker, as with every execenv (jobs get --export=ALL).
        { [EXECUTION_MARKER]: ctx.executionId },
      );
      if (submitted.exitCode !== 0) {
        throw new Error(`sbatch failed: ${slurmError(submitted.stderr)}`);
      }
      const id = parseJobId(submitted.stdout);
      arrays.push({ id, runs: part });
      watchdog.runOnDeath(["scancel", id]);
      after = id;
      ctx.log.debug(`submitted job array ${id} (${part.length} runs, at most ${settings.throttle} at once)`);
    }
    if (ctx.signal.aborted) await cancel();
    const submitted = new Set(arrays.flatMap((array) => array.runs.map((run) => run.seq)));
    for (const run of runs) if (!submitted.has(run.seq)) tracker.drop(run);

    const overAt = new Map<number, number>();
    for (let tick = 0; !tracker.done; tick += 1) {
      await sleep(250);
      tracker.poll();
      if (tracker.done || (tick % 4 !== 0 && !ctx.signal.aborted)) continue;
      const queued = await slurm("squeue", [
        "-h",
        "-r",
        "--states=all",
        `--jobs=${arrays.map((array) => array.id).join(",")}`,
        "-o",
        SQUEUE_FORMAT,
      ]);
      // A transient failure (a busy controller) is asked again; jobs purged from the
      // controller's memory (MinJobAge) are over.
      if (queued.exitCode !== 0 && !/Invalid job id/i.test(queued.stderr)) continue;
      const states = new Map(
        parseSqueue(queued.stdout).map((task) => [`${task.arrayJob}_${task.task}`, task]),
      );
      tracker.poll();
      const now = Date.now();
      for (const array of arrays) {
        for (const [index, run] of array.runs.entries()) {
          if (!tracker.isPending(run)) continue;
          const task = states.get(`${array.id}_${index}`);
          if (task && !isTerminal(task.state)) continue;
          const over = overAt.get(run.seq) ?? now;
          overAt.set(run.seq, over);
          const started = tracker.hasStarted(run);
          if (now - over < FILE_LAG_MS && (started || !stopping())) continue;
          const outcome = outcomeOfEndedJob({
            id: `${array.id}_${index}`,
            state: task?.state ?? "PURGED",
            ...(task ? { reason: task.reason } : {}),
            started,
            stopping: stopping(),
          });
          if (outcome) tracker.end(run, outcome);
          else tracker.drop(run);
        }
      }
    }
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    if (ctx.signal.aborted || !tracker.done) await cancel();
    await settled(
      arrays.map((array) => array.id),
      ctx.options.killGrace,
      ctx.log,
    );
  }
}

/**
 * Waits until no job of the batch is left in the queue, completing ones included (their
 * processes may still be exiting on the nodes); warns after the grace and a minute more.
 */
async function settled(ids: string[], graceSeconds: number, log: { warn(message: string): void }) {
  if (ids.length === 0) return;
  const deadline = Date.now() + (graceSeconds + 60) * 1000;
  for (;;) {
    const active = await slurm("squeue", ["-h", `--jobs=${ids.join(",")}`, "-o", "%i %T"]);
    const left = active.exitCode === 0 ? active.stdout.trim() : "";
    if (left === "" && (active.exitCode === 0 || /Invalid job id/i.test(active.stderr))) return;
    if (Date.now() > deadline) {
      log.warn(`Slurm jobs of this batch are still in the queue: ${left.split("\n").join(", ")}`);
      return;
    }
    await sleep(250);
  }
}
