// What drains write to their events files (python/drain.py), and following every such file of
// a work directory at once: new files appear as drains start, each may end in a torn line.
import { closeSync, openSync, readdirSync, readSync } from "node:fs";
import path from "node:path";
import type { RunOutcome } from "@sierra-exec/core";

/** One line of a drain's events file; times are seconds on the drain host's clock. */
export type DrainEvent =
  | { drain: string; host: string; pid: number; flowRun: string | null; at: number }
  | { started: string; set: number; index: number; pid: number; at: number }
  | {
      ended: string;
      set: number;
      index: number;
      code: number | null;
      signal: string | null;
      startedAt: number;
      at: number;
      error?: string;
      /** The drain stopped it (a stop, or strict after another run failed). */
      stopped?: true;
    }
  | { heartbeat: number }
  | { bounced: string }
  | { bye: number };

export type EndedEvent = Extract<DrainEvent, { ended: string }>;

const fromSeconds = (seconds: number) => new Date(Math.round(seconds * 1000));

/** A run's exact outcome from its end event, with the host of the drain that ran it. */
export function outcomeOf(event: EndedEvent, host?: string): RunOutcome {
  return {
    exitCode: event.code,
    signal: event.signal,
    startedAt: fromSeconds(event.startedAt),
    finishedAt: fromSeconds(event.at),
    ...(event.error ? { error: event.error } : {}),
    ...(host ? { host } : {}),
  };
}

/**
 * Splits appended text into complete event lines, keeping a torn last line for later; a line
 * that is not JSON (a disk that filled up mid-write) is skipped and handed to `skipped`.
 */
export function parseEvents(
  buffered: string,
  skipped: (line: string) => void = () => {},
): { events: DrainEvent[]; rest: string } {
  const lines = buffered.split("\n");
  const rest = lines.pop() ?? "";
  const events: DrainEvent[] = [];
  for (const line of lines.filter(Boolean)) {
    try {
      events.push(JSON.parse(line) as DrainEvent);
    } catch {
      skipped(line);
    }
  }
  return { events, rest };
}

interface Followed {
  offset: number;
  rest: string;
}

/** Reads what every drain appended to its events file since the last call. */
export class EventsFollower {
  private readonly files = new Map<string, Followed>();
  private readonly buffer = Buffer.alloc(1 << 16);

  private warned = false;

  /** `warn` is told once of the first line that does not parse. */
  constructor(
    private readonly dir: string,
    private readonly warn: (line: string) => void = () => {},
  ) {}

  /** The new complete events, by drain file (the drain id), in the order each drain wrote them. */
  read(): Array<{ file: string; events: DrainEvent[] }> {
    for (const name of readdirSync(this.dir)) {
      if (name.endsWith(".jsonl") && !this.files.has(name)) this.files.set(name, { offset: 0, rest: "" });
    }
    const read: Array<{ file: string; events: DrainEvent[] }> = [];
    for (const [name, followed] of this.files) {
      // Opened anew each time: on NFS, an open is what fetches what other hosts wrote since.
      const fd = openSync(path.join(this.dir, name), "r");
      let grew = false;
      try {
        for (;;) {
          const count = readSync(fd, this.buffer, 0, this.buffer.length, followed.offset);
          if (count === 0) break;
          grew = true;
          followed.offset += count;
          followed.rest += this.buffer.toString("utf8", 0, count);
        }
      } finally {
        closeSync(fd);
      }
      if (!grew) continue;
      const parsed = parseEvents(followed.rest, (line) => {
        if (!this.warned) this.warn(`${name}: skipped a line that is not an event: ${line.slice(0, 200)}`);
        this.warned = true;
      });
      followed.rest = parsed.rest;
      read.push({ file: name.slice(0, -".jsonl".length), events: parsed.events });
    }
    return read;
  }

  close(): void {
    this.files.clear();
  }
}
