// `sierra sierra-plugins`: where SIERRA finds our execenvs (the directory to put on
// SIERRA_PLUGIN_PATH, shipped in this package), and, for the plugin there, one execenv's
// options as JSON (`--describe NAME`), so that SIERRA's own `sierra` accepts them.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describeOptions, type RegisteredExecEnv, SierraError } from "@sierra-exec/core";
import type { CliIo } from "./main.js";

/** `sierra-plugins/` at the root of this package (dist/ is beside it). */
export const SIERRA_PLUGINS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../sierra-plugins",
);

/** The built CLI, for the SIERRA plugin to call back. */
export const CLI_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "bin.js");

export async function sierraPluginsCommand(
  argv: string[],
  load: (name: string) => Promise<RegisteredExecEnv>,
  io: CliIo,
): Promise<number> {
  if (argv.length === 0) {
    io.stdout.write(`${SIERRA_PLUGINS_DIR}\n`);
    return 0;
  }
  const [flag, name] = argv;
  if (flag !== "--describe" || !name || argv.length > 2) {
    throw new SierraError("usage: sierra sierra-plugins [--describe NAME]");
  }
  const { execenv } = await load(name);
  const options = describeOptions(execenv.options).map(({ flag, kind, description, choices }) => ({
    flag,
    kind,
    description,
    ...(choices ? { choices } : {}),
  }));
  io.stdout.write(`${JSON.stringify({ name: execenv.name, options })}\n`);
  return 0;
}
