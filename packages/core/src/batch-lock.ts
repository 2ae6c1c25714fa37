// One batch at a time on a batch root: a lock file that names its holder. It is made
// with link(2) from a complete temporary file, which is atomic on local disks and on NFS
// (where flock may not reach other hosts). A holder on this host is alive while its
// process is (same boot, same pid, same start time); one on another host while it keeps
// touching the file, so a lock older than STALE_MS without a touch is taken over.
import { randomBytes } from "node:crypto";
import { linkSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { SierraError } from "./errors.js";

export const LOCK_FILE = ".sierra-exec.lock";
/** A lock from another host is stale after this long without a touch. */
export const STALE_MS = 60_000;
const TOUCH_MS = 10_000;

interface Holder {
  pid: number;
  host: string;
  /** ISO 8601: when the holder took the lock. */
  since: string;
  /** Tells a reboot, and a reused pid, from the holder itself. */
  bootId: string | null;
  startTime: string | null;
}

const readOr = (file: string) => {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return null;
  }
};

/** Field 22 of /proc/<pid>/stat: the process's start time, in clock ticks since boot. */
function startTimeOf(pid: number): string | null {
  const stat = readOr(`/proc/${pid}/stat`);
  return stat === null ? null : (stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null);
}

const bootId = () => readOr("/proc/sys/kernel/random/boot_id");

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Why the lock's holder is gone, or null while it may still be running. */
function goneBecause(holder: Holder | null, file: string): string | null {
  if (holder === null) {
    // Unreadable: a foreign or damaged file; stale once nobody has touched it for a while.
    return Date.now() - statSync(file).mtimeMs > STALE_MS ? "unreadable and untouched" : null;
  }
  if (holder.host !== hostname()) {
    return Date.now() - statSync(file).mtimeMs > STALE_MS ? `untouched for ${STALE_MS / 1000} s` : null;
  }
  if (holder.bootId && holder.bootId !== bootId()) return "this host rebooted since";
  if (!processAlive(holder.pid)) return `process ${holder.pid} is gone`;
  if (holder.startTime && startTimeOf(holder.pid) !== holder.startTime)
    return `process ${holder.pid} is gone`;
  return null;
}

const parse = (text: string | null): Holder | null => {
  try {
    const holder = JSON.parse(text ?? "");
    return typeof holder?.pid === "number" && typeof holder.host === "string" ? holder : null;
  } catch {
    return null;
  }
};

export interface BatchLock {
  /** Removes the lock, if it is still ours. */
  release(): void;
}

/**
 * Takes the lock of `batchRoot`, or throws a SierraError naming its holder. A lock whose
 * holder is gone (killed, rebooted, another host silent for STALE_MS) is taken over.
 */
export function lockBatchRoot(batchRoot: string, log?: { info(message: string): void }): BatchLock {
  const file = path.join(batchRoot, LOCK_FILE);
  const me: Holder = {
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    bootId: bootId(),
    startTime: startTimeOf(process.pid),
  };
  const text = `${JSON.stringify(me)}\n`;
  const temp = `${file}.${me.host}.${me.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(temp, text);
  try {
    for (let attempt = 0; ; attempt += 1) {
      try {
        linkSync(temp, file);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const seen = readOr(file);
      const holder = parse(seen);
      let gone: string | null;
      try {
        gone = goneBecause(holder, file);
      } catch {
        continue; // the holder released it meanwhile: try again
      }
      if (gone === null || attempt >= 3) {
        const who = holder
          ? `pid ${holder.pid} on ${holder.host}, since ${holder.since}`
          : `holder unknown: ${file} is unreadable`;
        throw new SierraError(
          `batch root ${batchRoot} is in use by another sierra (${who}): wait for it to end or stop it; a lock whose holder is gone is taken over by itself`,
        );
      }
      takeOver(file, seen);
      log?.info(
        `took over the lock of ${batchRoot}: its holder${holder ? ` (pid ${holder.pid} on ${holder.host})` : ""} is gone (${gone})`,
      );
    }
  } finally {
    unlinkSync(temp);
  }
  const touch = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(file, now, now);
    } catch {
      // a failing disk shows up in the records' writes
    }
  }, TOUCH_MS);
  touch.unref();
  return {
    release() {
      clearInterval(touch);
      if (readOr(file) === text.trim()) unlinkSync(file);
    },
  };
}

/**
 * Moves a stale lock aside. Two invocations may judge the same lock stale: the one whose
 * rename comes second could move the fresh lock of the first, so it checks what it moved
 * and puts a fresh lock back.
 */
function takeOver(file: string, stale: string | null): void {
  const aside = `${file}.stale-${randomBytes(4).toString("hex")}`;
  try {
    renameSync(file, aside);
  } catch {
    return; // someone else moved it: try again
  }
  if (readOr(aside) !== stale) {
    try {
      linkSync(aside, file);
    } catch {
      // a third one holds it now: the next attempt names it
    }
  }
  unlinkSync(aside);
}
