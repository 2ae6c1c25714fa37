// SIERRA's stage-2 spellings that our options do not have: `--exec-no-devnull` (also
// argparse's `--no-exec-devnull`) and `--nodefile`. Taken where they mean something,
// otherwise a note; never a failure, so that a SIERRA command line runs unchanged.

const NO_DEVNULL = new Set(["--exec-no-devnull", "--no-exec-devnull"]);

export interface Spellings {
  argv: string[];
  notes: string[];
}

/** Rewrites `argv` for an execenv whose flags are `flags`. */
export function sierraSpellings(argv: string[], execenv: string, flags: readonly string[]): Spellings {
  const out: string[] = [];
  const notes: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (NO_DEVNULL.has(arg)) {
      // as SIERRA's argparse: the last of --exec-devnull / --exec-no-devnull wins
      const at = out.lastIndexOf("--exec-devnull");
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    if ((arg === "--nodefile" || arg.startsWith("--nodefile=")) && !flags.includes("--nodefile")) {
      const file = arg === "--nodefile" ? argv[++i] : arg.slice("--nodefile=".length);
      notes.push(`--nodefile ${file ?? ""} is not used: execenv ${execenv} chooses no nodes from a list`);
      continue;
    }
    out.push(arg);
  }
  return { argv: out, notes };
}
