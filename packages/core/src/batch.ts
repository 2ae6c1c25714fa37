// Batch discovery: reads a SIERRA stage-1 batch root into experiments and their runs,
// from one set of cmdfiles: the per-batch one or the experiments' (SIERRA runs one set).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { decodeCommand } from "./command-text.js";
import { SierraError } from "./errors.js";

/** Name given to the runs of the per-batch cmdfile that name no experiment's input directory. */
export const BATCH_CMDFILE_EXP = "_batch";

export interface Experiment {
  name: string;
  /** Position in the batch, 0-based: what `--exp-range` counts. */
  index: number;
  /** Input directory (`exp-inputs/<exp>`, the batch root for `_batch`). */
  dir: string;
  /** Working directory of its runs: `dir`, or the batch root for runs of the per-batch cmdfile. */
  cwd: string;
  /** Its runs' command lines, lossless (see command-text.ts). */
  commands: string[];
}

export interface Batch {
  root: string;
  experiments: Experiment[];
}

export type Paradigm = "per-batch" | "per-exp";

export interface DiscoverSettings {
  /** `per-batch` runs the root cmdfile when there is one, `per-exp` the experiments'. */
  paradigm?: Paradigm;
  /** Whether the user chose the paradigm; if not, a batch with both sets of cmdfiles is refused. */
  paradigmGiven?: boolean;
}

const naturalOrder = new Intl.Collator("en", { numeric: true, sensitivity: "variant" }).compare;
const CMDFILE = "commands.txt";

/** Run `i` is the i-th line that is neither blank nor a `#` comment. */
export function parseCmdfile(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => {
    const trimmed = line.trim();
    return trimmed !== "" && !trimmed.startsWith("#");
  });
}

/** The runs of a cmdfile, read as bytes; a NUL byte, which no command line can hold, is a usage error. */
export function readCmdfile(file: string): string[] {
  const text = decodeCommand(readFileSync(file));
  const commands = parseCmdfile(text);
  if (commands.some((command) => command.includes("\0"))) {
    const line = text.split(/\r?\n/).findIndex((l) => l.includes("\0") && parseCmdfile(l).length > 0) + 1;
    throw new SierraError(
      `${file}, line ${line}: a NUL byte, which no command line can hold (bash -c would cut the line there): remove it`,
    );
  }
  return commands;
}

/**
 * The experiment a line of the per-batch cmdfile belongs to: the first whose input
 * directory it names (`.../exp-inputs/<exp>/...`, as SIERRA writes its launch files'
 * paths), or none.
 */
function namedExperiment(line: string, names: ReadonlySet<string>): string | undefined {
  for (const match of line.matchAll(/(?:^|[\s/'"=:])exp-inputs\/([^/\s'"]+)/g)) {
    if (names.has(match[1] as string)) return match[1];
  }
  return undefined;
}

export function discoverBatch(batchRoot: string, settings: DiscoverSettings = {}): Batch {
  const { paradigm = "per-batch", paradigmGiven = true } = settings;
  const root = path.resolve(batchRoot);
  if (!existsSync(root)) {
    throw new SierraError(`batch root ${batchRoot} does not exist: pass the directory stage 1 generated`);
  }
  if (!statSync(root).isDirectory()) throw new SierraError(`batch root ${batchRoot} is not a directory`);

  const inputs = path.join(root, "exp-inputs");
  const dirs = existsSync(inputs)
    ? readdirSync(inputs, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name)
        .sort(naturalOrder)
    : [];
  const perExp = dirs.filter((name) => existsSync(path.join(inputs, name, CMDFILE)));
  const rootCmdfile = path.join(root, CMDFILE);
  const hasRoot = existsSync(rootCmdfile);
  if (hasRoot && perExp.length > 0 && !paradigmGiven) {
    throw new SierraError(
      `batch root ${batchRoot} has both a per-batch cmdfile (${rootCmdfile}) and per-experiment ones (${path.join(inputs, "*", CMDFILE)}, ${perExp.length} of them): choose which to run with --exec-parallelism-paradigm per-batch or per-exp`,
    );
  }

  let experiments: Array<Omit<Experiment, "index">>;
  if (hasRoot && (paradigm === "per-batch" || perExp.length === 0)) {
    const byExp = new Map<string, string[]>(dirs.map((name) => [name, []]));
    const unnamed: string[] = [];
    const names = new Set(dirs);
    for (const line of readCmdfile(rootCmdfile)) {
      const exp = namedExperiment(line, names);
      if (exp === undefined) unnamed.push(line);
      else byExp.get(exp)?.push(line);
    }
    experiments = dirs.map((name) => ({
      name,
      dir: path.join(inputs, name),
      cwd: root,
      commands: byExp.get(name) ?? [],
    }));
    if (unnamed.length > 0) {
      experiments.push({ name: BATCH_CMDFILE_EXP, dir: root, cwd: root, commands: unnamed });
    }
  } else {
    experiments = perExp.map((name) => {
      const dir = path.join(inputs, name);
      return { name, dir, cwd: dir, commands: readCmdfile(path.join(dir, CMDFILE)) };
    });
  }
  if (experiments.length === 0) {
    const below = batchRootsBelow(root);
    const hint =
      below.length === 0
        ? "expected exp-inputs/<exp>/commands.txt (SIERRA stage-1 layout)"
        : `it looks like SIERRA's --sierra-root; batch roots below it: ${listSome(below.map((dir) => path.relative(root, dir)))}: pass one of them`;
    throw new SierraError(`batch root ${batchRoot} has no experiments: ${hint}`);
  }
  return { root, experiments: experiments.map((experiment, index) => ({ ...experiment, index })) };
}

const listSome = (items: string[], shown = 5) =>
  items.length <= shown
    ? items.join(", ")
    : `${items.slice(0, shown).join(", ")} and ${items.length - shown} more`;

/**
 * Directories below `dir` with an `exp-inputs` directory, SIERRA's batch roots under its
 * `--sierra-root` (<project>/<controller>/<criteria>: a few levels down), in natural order.
 */
function batchRootsBelow(dir: string, depth = 4): string[] {
  if (depth === 0) return [];
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith("."))
      .map((entry) => entry.name)
      .sort(naturalOrder);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const child = path.join(dir, name);
    return existsSync(path.join(child, "exp-inputs")) ? [child] : batchRootsBelow(child, depth - 1);
  });
}
