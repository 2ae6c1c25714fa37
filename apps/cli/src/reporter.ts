// Shows a batch's progress: a live bar on a terminal (done/failed/running, elapsed, ETA),
// plain lines otherwise; log messages pass through it so they do not tear the bar.
import { createRequire } from "node:module";
import type { BatchObserver, Logger, Run, RunRecord } from "@sierra-exec/core";

// Loaded only for a terminal: plain-line output (CI, logs, pipes) skips its start-up cost.
const loadCliProgress = () => createRequire(import.meta.url)("cli-progress") as typeof import("cli-progress");

export interface Reporter extends BatchObserver {
  log: Logger;
  /** Stops the live display; what is printed next stands below it. */
  finish(): void;
}

export interface ReporterSettings {
  stream: NodeJS.WritableStream & { isTTY?: boolean };
  verbose: boolean;
  /** Lines to print when the batch starts running (after the execenv's check and set-up). */
  header?: string[];
  /** Seconds between status lines when not on a terminal. */
  statusEvery?: number;
}

const formatSeconds = (ms: number) => {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
};

/** How a failed run ended, in words: `exit 1`, `killed by SIGTERM`, or why it could not start. */
export const howItEnded = (record: RunRecord) =>
  record.error ?? (record.signal ? `killed by ${record.signal}` : `exit ${record.exitCode}`);

const describeFailure = (run: Run, record: RunRecord) =>
  `${run.id} failed (${howItEnded(record)})${record.stderr ? `, stderr: ${record.stderr}` : ""}`;

export function createReporter({
  stream,
  verbose,
  header = [],
  statusEvery = 5,
}: ReporterSettings): Reporter {
  let total = 0;
  let done = 0;
  let failed = 0;
  let running = 0;
  let stopping = false;
  let startedAt = Date.now();
  let write = (line: string): void => {
    stream.write(`${line}\n`);
  };
  let tick = () => {};
  let finish = () => {};
  let dropBar = () => {};

  const log: Logger = {
    info: (message) => write(`sierra: ${message}`),
    warn: (message) => write(`sierra: warning: ${message}`),
    debug: (message) => verbose && write(`sierra: debug: ${message}`),
  };

  const status = () => {
    const elapsed = Date.now() - startedAt;
    const eta = done > 0 ? formatSeconds((elapsed / done) * (total - done)) : "?";
    // Once stopping, the rest will not run: no ETA.
    const tail = stopping ? "stopping" : `ETA ${eta}`;
    return `${done}/${total} done, ${failed} failed, ${running} running, ${formatSeconds(elapsed)} elapsed, ${tail}`;
  };

  return {
    log,
    batchStarted({ runs, jobs }) {
      total = runs;
      startedAt = Date.now();
      for (const line of header) log.info(line);
      if (stream.isTTY && !process.env.CI) {
        const { MultiBar, Presets } = loadCliProgress();
        const bars = new MultiBar(
          {
            stream: stream as NodeJS.WriteStream,
            format:
              "{bar} {value}/{total} done | {failed} failed | {running} running | {duration_formatted} | ETA {eta_formatted}",
            hideCursor: true,
            etaBuffer: 100,
            fps: 10,
          },
          Presets.shades_classic,
        );
        const bar = bars.create(total, 0, { failed: 0, running: 0 });
        write = (line) => bars.log(`${line}\n`);
        tick = () => bar.update(done, { failed, running });
        finish = () => {
          tick();
          bars.stop();
          tick = () => {};
          finish = () => {};
          write = (line) => {
            stream.write(`${line}\n`);
          };
        };
        // Removed before the stop: the last frame drawn would show an ETA.
        dropBar = () => {
          bars.remove(bar);
          finish();
        };
      } else {
        log.info(`${runs} runs, ${jobs} at a time`);
        const timer = setInterval(() => log.info(status()), statusEvery * 1000);
        timer.unref();
        finish = () => clearInterval(timer);
      }
    },
    runStarted() {
      running += 1;
      tick();
    },
    batchStopping() {
      stopping = true;
      // The live bar's ETA would count runs that will not run: plain lines from here on.
      dropBar();
    },
    runEnded(run, record) {
      running = Math.max(0, running - 1);
      done += 1;
      if (record.stopped) {
        log.info(`${run.id} stopped (${record.stopped})`);
      } else if (record.exitCode !== 0) {
        failed += 1;
        log.info(describeFailure(run, record));
      } else {
        log.debug(`${run.id} done in ${record.durationMs} ms`);
      }
      tick();
    },
    finish: () => finish(),
  };
}
