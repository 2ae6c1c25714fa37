// SIERRA's hpc.local runs each cmdfile under GNU parallel with `--joblog parallel.log` in
// its scratch directory (scratch/<exp>/ per experiment, scratch/ for the per-batch cmdfile)
// and resumes with `--resume-failed`. Those logs are read here as run history, so that our
// --exec-resume skips what SIERRA's last stage 2 ran; and ours are written there, so that
// SIERRA's --exec-resume skips what we ran.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import type { Batch } from "./batch.js";
import { decodeCommand, displayCommand } from "./command-text.js";
import type { RunHistory, RunRecord } from "./run-records.js";
import { signalName } from "./signal-names.js";
import { writeAll, writeFailure } from "./write-failure.js";

export const JOBLOG_HEADER = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/** Where SIERRA's hpc.local keeps the joblog of an experiment, or of the per-batch cmdfile. */
export const parallelLogPath = (batchRoot: string, exp?: string) =>
  path.join(batchRoot, "scratch", ...(exp ? [exp] : []), "parallel.log");

interface Scope {
  file: string;
  /** A run's Seq in this joblog (`exp\0run` to its 1-based line number in the cmdfile). */
  seqOf: Map<string, number>;
  /** The run a Seq stands for, with its command as the joblog shows it. */
  runAt: Map<number, { exp: string; run: number; command: string }>;
}

const runKey = (exp: string, run: number) => `${exp}\u0000${run}`;

const rootCmdfile = (batch: Batch) => path.join(batch.root, "commands.txt");

/**
 * The joblog of one cmdfile: a Seq is a 1-based line number (GNU parallel makes a job of
 * every line, blank and `#` ones too). Its lines are walked in order, each taken by the
 * experiment whose next run it is (in the per-batch file, the runs of several experiments
 * interleave), so that identical lines are told apart. Commands are as records show them
 * (displayCommand), which is what joblogs hold.
 */
function scope(file: string, experiments: Batch["experiments"]): Scope {
  const next = new Map(experiments.map((experiment) => [experiment.name, 0]));
  const result: Scope = { file, seqOf: new Map(), runAt: new Map() };
  const lines = displayCommand(decodeCommand(readFileSync(file))).split(/\r?\n/);
  lines.forEach((text, i) => {
    const command = text.trim();
    const owner = experiments.find((experiment) => {
      const run = next.get(experiment.name) ?? 0;
      const own = experiment.commands[run];
      return own !== undefined && displayCommand(own).trim() === command;
    });
    if (!owner) return;
    const run = next.get(owner.name) ?? 0;
    next.set(owner.name, run + 1);
    result.seqOf.set(runKey(owner.name, run), i + 1);
    result.runAt.set(i + 1, { exp: owner.name, run, command });
  });
  return result;
}

/**
 * The joblogs SIERRA would write for this batch: the per-batch cmdfile's where discovery
 * took the batch from it (every run's working directory is then the batch root), else each
 * experiment's.
 */
function scopes(batch: Batch): Scope[] {
  if (batch.experiments.every((experiment) => experiment.cwd === batch.root)) {
    const file = rootCmdfile(batch);
    return existsSync(file) ? [{ ...scope(file, batch.experiments), file: parallelLogPath(batch.root) }] : [];
  }
  return batch.experiments.map((experiment) => ({
    ...scope(path.join(experiment.dir, "commands.txt"), [experiment]),
    file: parallelLogPath(batch.root, experiment.name),
  }));
}

/**
 * The last attempt of each run that a GNU parallel joblog of this batch records, keyed
 * `exp\0run`. A line stands for the run its Seq names, if the command is that run's (a log
 * of an older cmdfile's lines is no history of this batch).
 */
export function readParallelLogs(batch: Batch): Map<string, { record: RunRecord; attempts: number }> {
  const found = new Map<string, { record: RunRecord; attempts: number }>();
  for (const scope of scopes(batch)) {
    if (!existsSync(scope.file)) continue;
    for (const line of displayCommand(decodeCommand(readFileSync(scope.file)))
      .split("\n")
      .slice(1)) {
      const [seq, host = "", start, runtime, , , exitval, signal, ...command] = line.split("\t");
      const target = scope.runAt.get(Number(seq));
      const startS = Number(start);
      const durationS = Number(runtime);
      if (target?.command !== command.join("\t").trim()) continue;
      if (!Number.isFinite(startS) || !Number.isFinite(durationS)) continue;
      const signalNumber = Number(signal);
      const record: RunRecord = {
        exp: target.exp,
        run: target.run,
        command: displayCommand(
          batch.experiments.find((e) => e.name === target.exp)?.commands[target.run] ?? "",
        ),
        exitCode: signalNumber > 0 ? null : Number(exitval),
        signal: signalNumber > 0 ? signalName(signalNumber) : null,
        startedAt: new Date(startS * 1000).toISOString(),
        finishedAt: new Date((startS + durationS) * 1000).toISOString(),
        durationMs: Math.round(durationS * 1000),
        attempt: 0,
        execenv: "gnu-parallel",
        host: host === ":" ? hostname() : host,
        stdout: null,
        stderr: null,
      };
      const key = runKey(target.exp, target.run);
      const attempts = (found.get(key)?.attempts ?? 0) + 1;
      found.set(key, { record: { ...record, attempt: attempts }, attempts });
    }
  }
  return found;
}

/** How much later a joblog line must end than our record of the run to stand for a newer attempt. */
const SAME_ATTEMPT_MS = 5;

/** `history` (runs.jsonl), where a joblog records a later attempt of a run: that attempt. */
export function withParallelLogs(history: RunHistory, batch: Batch): RunHistory {
  const logged = readParallelLogs(batch);
  if (logged.size === 0) return history;
  const key = (run: { exp: string; index: number }) => runKey(run.exp, run.index);
  return {
    attempts: (run) => Math.max(history.attempts(run), logged.get(key(run))?.attempts ?? 0),
    last: (run) => {
      const ours = history.last(run);
      const theirs = logged.get(key(run))?.record;
      if (!theirs) return ours;
      if (!ours) return theirs;
      return Date.parse(theirs.finishedAt) > Date.parse(ours.finishedAt) + SAME_ATTEMPT_MS ? theirs : ours;
    },
  };
}

/**
 * Writes our attempts into the joblogs SIERRA's hpc.local reads, with the Seq GNU parallel
 * gives the run's line in the cmdfile SIERRA hands it: the per-batch one where the batch
 * has it, else the experiment's.
 */
export class ParallelLogWriter {
  private readonly scopes: Scope[];
  private readonly open = new Map<string, number>();

  /** `fresh` starts each joblog anew on its first line (a run without --exec-resume). */
  constructor(
    batch: Batch,
    private readonly fresh: boolean,
  ) {
    this.scopes = scopes(batch);
  }

  /** `line` is the joblog line after its Seq. */
  write(exp: string, run: number, line: string): void {
    const key = runKey(exp, run);
    const scope = this.scopes.find((s) => s.seqOf.has(key));
    if (!scope) return;
    try {
      let fd = this.open.get(scope.file);
      if (fd === undefined) {
        mkdirSync(path.dirname(scope.file), { recursive: true });
        const append = !this.fresh && existsSync(scope.file);
        fd = openSync(scope.file, append ? "a" : "w");
        if (!append) writeAll(fd, JOBLOG_HEADER);
        this.open.set(scope.file, fd);
      }
      writeAll(fd, `${scope.seqOf.get(key)}\t${line}`);
    } catch (error) {
      throw writeFailure(scope.file, error);
    }
  }

  close(): void {
    for (const fd of this.open.values()) closeSync(fd);
    this.open.clear();
  }
}
