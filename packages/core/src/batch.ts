// Batch discovery: reads a SIERRA stage-1 batch root into experiments and their runs.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { decodeCommand } from "./command-text.js";
import { SierraError } from "./errors.js";

/** Name given to the runs of the per-batch cmdfile (`<batch-root>/commands.txt`). */
export const BATCH_CMDFILE_EXP = "_batch";

export interface Experiment {
  name: string;
  /** Position in the batch, 0-based: what `--exp-range` counts. */
  index: number;
  /** Input directory, also the working directory of its runs. */
  dir: string;
  /** Its runs' command lines, lossless (see command-text.ts). */
  commands: string[];
}

export interface Batch {
  root: string;
  experiments: Experiment[];
}

const naturalOrder = new Intl.Collator("en", { numeric: true, sensitivity: "variant" }).compare;

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

export function discoverBatch(batchRoot: string): Batch {
  const root = path.resolve(batchRoot);
  if (!existsSync(root)) {
    throw new SierraError(`batch root ${batchRoot} does not exist: pass the directory stage 1 generated`);
  }
  if (!statSync(root).isDirectory()) throw new SierraError(`batch root ${batchRoot} is not a directory`);

  const inputs = path.join(root, "exp-inputs");
  const names = existsSync(inputs)
    ? readdirSync(inputs, { withFileTypes: true })
        .filter((entry) => entry.isDirectory() && existsSync(path.join(inputs, entry.name, "commands.txt")))
        .map((entry) => entry.name)
        .sort(naturalOrder)
    : [];
  const dirs = names.map((name) => ({ name, dir: path.join(inputs, name) }));
  if (existsSync(path.join(root, "commands.txt"))) dirs.push({ name: BATCH_CMDFILE_EXP, dir: root });
  if (dirs.length === 0) {
    throw new SierraError(
      `batch root ${batchRoot} has no experiments: expected exp-inputs/<exp>/commands.txt (SIERRA stage-1 layout)`,
    );
  }

  const experiments = dirs.map(({ name, dir }, index) => ({
    name,
    index,
    dir,
    commands: readCmdfile(path.join(dir, "commands.txt")),
  }));
  return { root, experiments };
}
