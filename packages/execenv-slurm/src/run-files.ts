// The batch's state directory on the shared filesystem: what the nodes read (the run
// wrapper, each execute's manifest of runs) and what they write back (each run's start and
// end, python/run.py), which the CLI follows.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CORE_PYTHON_DIR, type Run, type RunOutcome, runSpec } from "@sierra-exec/core";

export const RUN_WRAPPER = new URL("../python/run.py", import.meta.url).pathname;

interface StartFile {
  host: string;
  at: number;
}

interface EndFile {
  host: string;
  code: number | null;
  signal: string | null;
  startedAt: number;
  at: number;
  error?: string;
}

export class RunFiles {
  /** The wrapper, copied here: the nodes may not see this package's install, but see the batch root. */
  readonly wrapper: string;
  readonly stopFile: string;
  private manifests = 0;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.wrapper = path.join(dir, "run.py");
    copyFileSync(RUN_WRAPPER, this.wrapper);
    // core's run module, which the wrapper imports from its own directory.
    copyFileSync(path.join(CORE_PYTHON_DIR, "sierra_runs.py"), path.join(dir, "sierra_runs.py"));
    this.stopFile = path.join(dir, "stop");
  }

  /** Writes the runs, one JSON line each, for the wrapper; returns the manifest's path. */
  writeManifest(runs: readonly Run[]): string {
    this.manifests += 1;
    const file = path.join(this.dir, `runs-${this.manifests}.jsonl`);
    const lines = runs.map((run) => JSON.stringify({ ...runSpec(run), seq: run.seq }));
    writeFileSync(file, `${lines.join("\n")}\n`);
    return file;
  }

  /** No run starts once this exists (the wrapper checks it before starting). */
  stop(): void {
    writeFileSync(this.stopFile, "");
  }

  get stopped(): boolean {
    return existsSync(this.stopFile);
  }

  /** The start and end files present now, by run seq. */
  scan(): { started: Set<number>; ended: Set<number> } {
    const started = new Set<number>();
    const ended = new Set<number>();
    for (const name of readdirSync(this.dir)) {
      const match = /^(\d+)\.(start|end)$/.exec(name);
      if (match) (match[2] === "start" ? started : ended).add(Number(match[1]));
    }
    return { started, ended };
  }

  start(run: Run): { at: Date; host: string } {
    const start = this.read<StartFile>(run, "start");
    return { at: new Date(start.at), host: start.host };
  }

  end(run: Run): RunOutcome & { host: string } {
    const end = this.read<EndFile>(run, "end");
    return {
      exitCode: end.code,
      signal: end.signal,
      startedAt: new Date(end.startedAt),
      finishedAt: new Date(end.at),
      host: end.host,
      ...(end.error ? { error: end.error } : {}),
    };
  }

  hasEnd(run: Run): boolean {
    return existsSync(path.join(this.dir, `${run.seq}.end`));
  }

  hasStart(run: Run): boolean {
    return existsSync(path.join(this.dir, `${run.seq}.start`));
  }

  private read<T>(run: Run, kind: "start" | "end"): T {
    return JSON.parse(readFileSync(path.join(this.dir, `${run.seq}.${kind}`), "utf8")) as T;
  }
}
