// Batches in SIERRA's stage-1 layout, written to fresh temporary directories.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * Writes `exp-inputs/<exp>/commands.txt` for each experiment (its lines, or the file's exact
 * bytes) and the per-batch cmdfile when `batchCommands` is given into a new temporary
 * directory, and returns its path.
 */
export function makeBatch(experiments: Record<string, string[] | Buffer>, batchCommands?: string[]): string {
  const root = mkdtempSync(path.join(tmpdir(), "sierra-batch-"));
  for (const [name, commands] of Object.entries(experiments)) {
    mkdirSync(path.join(root, "exp-inputs", name), { recursive: true });
    const content = Buffer.isBuffer(commands) ? commands : `${commands.join("\n")}\n`;
    writeFileSync(path.join(root, "exp-inputs", name, "commands.txt"), content);
  }
  if (batchCommands) writeFileSync(path.join(root, "commands.txt"), `${batchCommands.join("\n")}\n`);
  return root;
}
