// The run records: statistics/exec/runs.jsonl (one JSON object per attempt) and a GNU
// parallel joblog. Each line is written as its run ends, so a crash loses no finished run.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import type { Batch, Experiment } from "./batch.js";
import { JOBLOG_HEADER, ParallelLogWriter } from "./parallel-log.js";
import type { Run } from "./run.js";
import { signalNumber } from "./signal-names.js";
import { writeAll, writeFailure } from "./write-failure.js";

export interface RunRecord {
  exp: string;
  run: number;
  command: string;
  exitCode: number | null;
  signal: string | null;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  attempt: number;
  execenv: string;
  host: string;
  stdout: string | null;
  stderr: string | null;
  /** Why the run could not start or has no exit status, when that is the case. */
  error?: string;
  /** Set when the batch stopped the run: the signal it got (`SIGINT`), `strict` or `error`. */
  stopped?: string;
}

export const recordSucceeded = (record: Pick<RunRecord, "exitCode">) => record.exitCode === 0;

export const runsJsonlPath = (batchRoot: string) => path.join(batchRoot, "statistics", "exec", "runs.jsonl");
export const joblogPath = (batchRoot: string) => path.join(batchRoot, "scratch", "joblog");

const runKey = (exp: string, run: number) => `${exp}\u0000${run}`;

export interface RunHistory {
  /** How many attempts the run has on record. */
  attempts(run: Pick<Run, "exp" | "index">): number;
  /** The run's last record, if any. */
  last(run: Pick<Run, "exp" | "index">): RunRecord | undefined;
}

/**
 * Reads runs.jsonl. Lines that do not parse, such as a last line torn by a crash, are
 * skipped: they stand for no finished attempt.
 */
export function readRunHistory(batchRoot: string): RunHistory {
  const file = runsJsonlPath(batchRoot);
  const lasts = new Map<string, RunRecord>();
  const counts = new Map<string, number>();
  if (existsSync(file)) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      let record: RunRecord;
      try {
        record = JSON.parse(line);
      } catch {
        continue;
      }
      if (typeof record?.exp !== "string" || typeof record.run !== "number") continue;
      const key = runKey(record.exp, record.run);
      lasts.set(key, record);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return {
    attempts: (run) => counts.get(runKey(run.exp, run.index)) ?? 0,
    last: (run) => lasts.get(runKey(run.exp, run.index)),
  };
}

/**
 * Opens a record file for appending; after a torn last line, starts on a fresh line.
 * `fresh` starts it anew, with the lines `keep` accepts (whole ones) if it is given.
 */
function openAppend(file: string, fresh: boolean, header = "", keep?: (line: string) => boolean): number {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const exists = !fresh && existsSync(file) && statSync(file).size > 0;
    const kept =
      fresh && keep && existsSync(file)
        ? wholeLines(readFileSync(file, "utf8")).filter((line) => `${line}\n` !== header && keep(line))
        : [];
    const fd = openSync(file, fresh ? "w" : "a+");
    if (!exists) {
      if (header) writeAll(fd, header);
      if (kept.length > 0) writeAll(fd, `${kept.join("\n")}\n`);
    } else if (!readFileSync(file, "utf8").endsWith("\n")) {
      writeAll(fd, "\n");
    }
    return fd;
  } catch (error) {
    throw writeFailure(file, error);
  }
}

/** The lines of a record file that ended (a torn last line is left out). */
const wholeLines = (text: string) => text.split("\n").slice(0, -1).filter(Boolean);

/** The experiment of a runs.jsonl line ("" if it does not parse). */
function recordExp(line: string): string {
  try {
    return String(JSON.parse(line).exp);
  } catch {
    return "";
  }
}

/** The experiment of a run by its Seq, its 1-based position in the batch (see batchRuns). */
function experimentOfSeq(batch: Batch): (seq: number) => string | undefined {
  const ends: Array<[number, string]> = [];
  let end = 0;
  for (const experiment of batch.experiments) {
    end += experiment.commands.length;
    ends.push([end, experiment.name]);
  }
  return (seq) => ends.find(([last]) => seq <= last)?.[1];
}

/** Seconds with milliseconds, padded as GNU parallel pads them. */
const seconds = (ms: number, width = 0) => (ms / 1000).toFixed(3).padStart(width);

export class RecordWriter {
  readonly host = hostname();
  private readonly jsonlPath: string;
  private readonly joblogPath: string;
  private readonly jsonl: number;
  private readonly joblog: number;
  private readonly parallelLogs: ParallelLogWriter | undefined;

  /**
   * `fresh` (a run without --exec-resume) forgets the earlier records of the experiments that
   * run, `running` (all of them if not given), and keeps the others': SIERRA's per-exp stage
   * 2 calls us once per experiment (`--exp-range i:i`). Otherwise appends. Given the batch,
   * also writes SIERRA's hpc.local joblogs (parallel-log.ts).
   */
  constructor(batchRoot: string, fresh: boolean, batch?: Batch, running?: readonly Experiment[]) {
    this.jsonlPath = runsJsonlPath(batchRoot);
    this.joblogPath = joblogPath(batchRoot);
    const forget = running && batch && running.length < batch.experiments.length ? running : undefined;
    const forgotten = new Set(forget?.map((experiment) => experiment.name));
    const expOfSeq = batch ? experimentOfSeq(batch) : () => undefined;
    this.jsonl = openAppend(this.jsonlPath, fresh, "", forget && ((line) => !forgotten.has(recordExp(line))));
    this.joblog = openAppend(
      this.joblogPath,
      fresh,
      JOBLOG_HEADER,
      forget && ((line) => !forgotten.has(expOfSeq(Number(line.split("\t")[0])) ?? "")),
    );
    this.parallelLogs = batch && new ParallelLogWriter(batch, fresh);
  }

  /** Appends the record to both files; a failure to write is a SierraError naming the file. */
  write(record: RunRecord, seq: number): void {
    try {
      writeAll(this.jsonl, `${JSON.stringify(record)}\n`);
    } catch (error) {
      throw writeFailure(this.jsonlPath, error);
    }
    const startMs = Date.parse(record.startedAt);
    const received = record.stdout && existsSync(record.stdout) ? statSync(record.stdout).size : 0;
    const exitval = record.exitCode ?? (record.signal ? 0 : -1);
    const signal = record.signal ? signalNumber(record.signal) : 0;
    const command = record.command.replace(/[\t\n]/g, " ");
    const line = `:\t${seconds(startMs)}\t${seconds(record.durationMs, 10)}\t0\t${received}\t${exitval}\t${signal}\t${command}\n`;
    try {
      writeAll(this.joblog, `${seq}\t${line}`);
    } catch (error) {
      throw writeFailure(this.joblogPath, error);
    }
    this.parallelLogs?.write(record.exp, record.run, line);
  }

  close(): void {
    this.parallelLogs?.close();
    closeSync(this.jsonl);
    closeSync(this.joblog);
  }
}
