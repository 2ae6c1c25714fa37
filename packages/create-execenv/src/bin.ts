#!/usr/bin/env node
// `create-execenv <name> [--dir <path>]`, which `pnpm create @sierra-exec/execenv` runs.
import { parseArgs } from "node:util";
import { isSierraError } from "@sierra-exec/core";
import { createExecEnvPackage } from "./create-package.js";
import { nextSteps } from "./next-steps.js";

const USAGE =
  "usage: create-execenv <name> [--dir <path>]   (name: hal, sierra-execenv-hal or @lab/sierra-execenv-hal)";

function main(argv: string[]): number {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { dir: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const [name, ...extra] = positionals;
    if (name === undefined || extra.length > 0) throw new Error(USAGE);
    const created = createExecEnvPackage({ name, ...(values.dir ? { dir: values.dir } : {}) });
    for (const line of nextSteps(created, process.cwd())) process.stdout.write(`${line}\n`);
    return 0;
  } catch (error) {
    const { message } = error as Error;
    process.stderr.write(
      `create-execenv: error: ${isSierraError(error) ? message : message.split("\n")[0]}\n`,
    );
    return 2;
  }
}

process.exit(main(process.argv.slice(2)));
