// The work directory of an execution: the channel between the CLI and its drains (python/drain.py)
// besides Prefect's API. On a cluster it is on a shared filesystem, so both sides use only
// create-exclusive, write-then-rename, rename, unlink, listdir and whole reads of small files.
import { linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type Run, runSpec } from "@sierra-exec/core";

const SUBDIRS = ["sets", "claims", "slots", "hosts", "events", "dead"] as const;

const readOrUndefined = (file: string) => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
};

/** The drain id a `hosts/<host>` claim names. */
function hostHolder(held: string): string | undefined {
  try {
    return (JSON.parse(held) as { drain?: string }).drain;
  } catch {
    return undefined;
  }
}

/**
 * Removes `file` if its content passes `ours`. Set aside first, then checked, and put back if it
 * is not ours: a read then an unlink could remove what a drain created in between.
 */
function removeIf(file: string, ours: (content: string) => boolean, tag: string): void {
  const aside = `${file}.${tag}`;
  try {
    renameSync(file, aside);
  } catch {
    return;
  }
  if (!ours(readOrUndefined(aside) ?? "")) {
    try {
      linkSync(aside, file);
    } catch {
      // Another one was created meanwhile: it stays.
    }
  }
  rmSync(aside, { force: true });
}

/**
 * What a set file holds: core's runSpec plus the run's Seq. Runs travel by reference: as
 * flow-run parameters, a batch of a few thousand runs exceeds the server's 512 KiB limit.
 */
export const setContent = (runs: readonly Run[]) =>
  JSON.stringify(runs.map((run) => ({ ...runSpec(run), seq: run.seq })));

export class WorkDir {
  constructor(readonly dir: string) {
    for (const sub of SUBDIRS) mkdirSync(path.join(dir, sub), { recursive: true });
  }

  get events(): string {
    return path.join(this.dir, "events");
  }

  /** Writes set `n` whole (a drain never reads half of it), its claims directory first. */
  writeSet(n: number, runs: readonly Run[]): void {
    mkdirSync(path.join(this.dir, "claims", String(n)), { recursive: true });
    const file = path.join(this.dir, "sets", `${n}.json`);
    writeFileSync(`${file}.tmp`, setContent(runs));
    renameSync(`${file}.tmp`, file);
  }

  /** `stop`: every drain starts no new run, stops its live runs and writes their ends. */
  writeStop(reason: string): void {
    writeFileSync(path.join(this.dir, "stop"), reason);
  }

  /** `done`: no set will come; drains finish their live runs and return. */
  writeDone(): void {
    writeFileSync(path.join(this.dir, "done"), "");
  }

  /**
   * Declares drain `id` of `host` dead: it stops at once if it is in fact alive (without ends),
   * and its host claim and its slots are freed.
   */
  declareDead(id: string, host: string): void {
    writeFileSync(path.join(this.dir, "dead", id), "");
    const tag = `dead-${id}`;
    removeIf(path.join(this.dir, "hosts", host), (held) => hostHolder(held) === id, tag);
    for (const slot of readdirSync(path.join(this.dir, "slots"))) {
      if (/^\d+$/.test(slot)) removeIf(path.join(this.dir, "slots", slot), (held) => held === id, tag);
    }
  }

  /**
   * Renames aside the claims drain `id` holds of runs `indices` of set `n`, so that another drain
   * takes them. Returns the indices re-queued.
   */
  requeue(id: string, n: number, indices: ReadonlySet<number>): number[] {
    const claims = path.join(this.dir, "claims", String(n));
    const requeued: number[] = [];
    for (const name of readdirSync(claims)) {
      const index = Number(name);
      if (!/^\d+$/.test(name) || !indices.has(index)) continue;
      const file = path.join(claims, name);
      if (readOrUndefined(file) !== id) continue;
      renameSync(file, `${file}.lost-${id}`);
      requeued.push(index);
    }
    return requeued.sort((a, b) => a - b);
  }

  /**
   * Takes run `index` of set `n` away from every drain (it ends without running); false if a
   * drain claimed it first.
   */
  withhold(n: number, index: number): boolean {
    try {
      writeFileSync(path.join(this.dir, "claims", String(n), String(index)), "sierra", { flag: "wx" });
      return true;
    } catch {
      return false;
    }
  }
}
