// The `sierra` command line: picks the execenv, parses the core's and the plugin's
// options (both derived from their zod schemas), plans the batch and executes it.
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  assertCapabilities,
  commandBytes,
  coreOptionsSchema,
  describeOptions,
  type ExecEnvRegistry,
  executeBatch,
  findInstalledExecEnvs,
  isSierraError,
  loadExecEnv,
  type OptionDescriptor,
  parseOptions,
  planBatch,
  type RegisteredExecEnv,
  SierraError,
} from "@sierra-exec/core";
import { createExecEnvPackage, nextSteps } from "@sierra-exec/create-execenv";
import { Command, CommanderError, Option } from "commander";
import packageJson from "../package.json" with { type: "json" };
import { builtinRegistry } from "./builtins.js";
import { createReporter } from "./reporter.js";
import { isSierraPipeline, runSierraPipeline } from "./sierra-pipeline.js";
import { sierraPluginsCommand } from "./sierra-plugins.js";
import { sierraSpellings } from "./sierra-spellings.js";
import { printSummary } from "./summary.js";

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** The user's project: module paths are relative to it, packages are looked up from it first. */
  cwd?: string;
}

/** The CLI's own install, where execenv packages are looked up after the user's project. */
const CLI_DIR = path.dirname(fileURLToPath(import.meta.url));

/** Where execenv packages are looked up, in order. */
const lookupDirs = (io: CliIo) => [io.cwd ?? process.cwd(), CLI_DIR];

const COMMANDS_HELP = `
Commands:
  sierra execenvs     list the available execenvs with their package and version
  sierra new execenv <name> [--dir <path>]
                      write a new execenv plugin package (builds and passes the testkit)
  sierra sierra-plugins
                      print the directory to add to SIERRA_PLUGIN_PATH, so that SIERRA's own
                      sierra takes --execenv=<any of ours>
  sierra <SIERRA's arguments> --pipeline 1 2 3 4 [--sierra-python PATH]
                      run SIERRA's pipeline, stage 2 on our execenvs (see the README)

Exit status: 0 all runs succeeded, 1 a run failed, 2 usage or environment error
(also a failure to write records or outputs), 129/130/143 interrupted by
SIGHUP/SIGINT/SIGTERM.`;

/** Longest error line printed without --verbose. */
const MAX_ERROR_LINE = 500;

/**
 * An error message as one line of at most MAX_ERROR_LINE characters, whole with --verbose.
 * Its start says what is wrong and its end how to fix it: a cut takes the middle.
 */
function errorLine(message: string, verbose: boolean): string {
  if (verbose) return message;
  const line = message.replace(/\s*\n\s*/g, " ");
  if (line.length <= MAX_ERROR_LINE) return line;
  const head = line.slice(0, 300);
  const tail = line.slice(-150);
  return `${head} [${line.length - head.length - tail.length} characters cut; --verbose shows them] ${tail}`;
}

/** Runs the command line; resolves to the exit status. */
export async function main(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
  registry: ExecEnvRegistry = builtinRegistry(),
): Promise<number> {
  const verbose = argv.includes("--verbose");
  const say = (line: string) => io.stderr.write(`sierra: ${line}\n`);
  try {
    if (argv[0] === "execenvs") return listExecEnvs(registry, io);
    if (argv[0] === "new") return newPackage(argv.slice(1), io);
    if (argv[0] === "sierra-plugins") {
      const cwd = io.cwd ?? process.cwd();
      return await sierraPluginsCommand(
        argv.slice(1),
        (name) => loadExecEnv(name, { registry, from: lookupDirs(io), cwd }),
        io,
      );
    }
    if (isSierraPipeline(argv)) return await runSierraPipeline(argv, io, verbose);
    return await runBatch(argv, registry, io, verbose);
  } catch (error) {
    if (isSierraError(error)) {
      say(errorLine(`error: ${error.message}`, verbose));
      // A plugin that failed to load: its own stack, for its author.
      if (verbose && error.cause instanceof Error) say(`caused by: ${error.cause.stack}`);
    } else {
      const { message, stack } = error as Error;
      say(
        verbose
          ? `internal error: ${message}\n${stack}`
          : `${errorLine(`internal error: ${message}`, false)} (run with --verbose for details)`,
      );
    }
    return 2;
  }
}

/** Built-ins, then the installed execenv packages, from their package.json metadata (no plugin code runs). */
function listExecEnvs(registry: ExecEnvRegistry, io: CliIo): number {
  const builtins = registry.list().map(({ execenv, packageName, version }) => ({
    name: execenv.name,
    aliases: execenv.aliases ?? [],
    packageName,
    version,
    description: execenv.description,
  }));
  const installed = findInstalledExecEnvs(lookupDirs(io)).filter(
    (found) => !builtins.some((builtin) => builtin.packageName === found.packageName),
  );
  const rows = [...builtins, ...installed].map(({ name, aliases, packageName, version, description }) => [
    name,
    aliases.join(",") || "-",
    `${packageName}@${version}`,
    description,
  ]);
  const table = [["NAME", "ALIASES", "PACKAGE", "DESCRIPTION"], ...rows];
  const widths = [0, 1, 2].map((column) => Math.max(...table.map((row) => (row[column] ?? "").length)));
  for (const row of table) {
    io.stdout.write(
      `${row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd()}\n`,
    );
  }
  return 0;
}

/** `sierra new execenv <name> [--dir <path>]`: the generator of @sierra-exec/create-execenv. */
function newPackage(argv: string[], io: CliIo): number {
  const cwd = io.cwd ?? process.cwd();
  const program = new Command("sierra new")
    .usage("execenv <name> [--dir <path>]")
    .description("Write a new package.")
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: () => {} });
  program
    .command("execenv")
    .description("Write a new execenv plugin package that builds and passes the conformance testkit")
    .argument(
      "<name>",
      "the execenv's name (hal), or its package's (sierra-execenv-hal, @lab/sierra-execenv-hal)",
    )
    .option("--dir <path>", "where to write it (default: ./<package name>)")
    .allowExcessArguments(false)
    .action((name: string, options: { dir?: string }) => {
      const created = createExecEnvPackage({ name, cwd, ...(options.dir ? { dir: options.dir } : {}) });
      for (const line of nextSteps(created, cwd)) io.stdout.write(`${line}\n`);
    });
  try {
    program.parse(argv, { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.exitCode === 0) return 0;
    const message =
      error.code === "commander.help"
        ? "missing what to write (execenv)"
        : error.message.replace(/^error: /, "");
    throw new SierraError(`sierra new: ${message} (usage: sierra new execenv <name> [--dir <path>])`);
  }
  return 0;
}

/** `--execenv` must be known before parsing, because it decides which options exist. */
function execenvArgument(argv: string[], env: NodeJS.ProcessEnv): string {
  for (const [index, arg] of argv.entries()) {
    if (arg === "--execenv") return argv[index + 1] ?? "";
    if (arg.startsWith("--execenv=")) return arg.slice("--execenv=".length);
  }
  return env.SIERRA_EXECENV ?? "local";
}

function toCommanderOption(descriptor: OptionDescriptor, group: string): Option {
  const value = descriptor.kind === "boolean" ? "" : ` <${descriptor.valueName ?? "VALUE"}>`;
  const notes = [
    descriptor.defaultLabel === undefined ? "" : `default: ${descriptor.defaultLabel}`,
    descriptor.env ? `env: ${descriptor.env}` : "",
  ].filter(Boolean);
  const option = new Option(
    `${descriptor.flag}${value}`,
    `${descriptor.description}${notes.length ? ` (${notes.join("; ")})` : ""}`,
  ).helpGroup(group);
  return descriptor.choices ? option.choices(descriptor.choices) : option;
}

function buildProgram(entry: RegisteredExecEnv, io: CliIo): Command {
  const program = new Command("sierra")
    .usage("--execenv=NAME --batch-root DIR [options]")
    .description("Run a batch of experiments (SIERRA stage-1 layout) on an execution environment.")
    .version(packageJson.version, "--version")
    .helpOption("-h, --help", "Show this help; with --execenv, that execenv's options too")
    .option("--verbose", "Debug logging and stack traces")
    .addHelpText("after", COMMANDS_HELP)
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: () => {} });
  for (const descriptor of describeOptions(coreOptionsSchema)) {
    program.addOption(toCommanderOption(descriptor, "Execution options:"));
  }
  const { execenv } = entry;
  for (const descriptor of describeOptions(execenv.options)) {
    program.addOption(toCommanderOption(descriptor, `Options of execenv ${execenv.name}:`));
  }
  return program;
}

/** Rewrites commander's error into one line, naming the execenv an unknown option belongs to. */
function usageError(error: CommanderError, registry: ExecEnvRegistry): SierraError {
  const message = error.message.replace(/^error: /, "");
  const flag = /'(--[^'=\s]+)/.exec(message)?.[1];
  if (error.code === "commander.unknownOption" && flag) {
    const owner = registry
      .list()
      .find(({ execenv }) => describeOptions(execenv.options).some((option) => option.flag === flag));
    if (owner) {
      return new SierraError(
        `option ${flag} belongs to execenv ${owner.execenv.name}: add --execenv=${owner.execenv.name}`,
      );
    }
  }
  return new SierraError(`${message} (see sierra --help)`);
}

async function runBatch(
  argv: string[],
  registry: ExecEnvRegistry,
  io: CliIo,
  verbose: boolean,
): Promise<number> {
  const wantsHelp = argv.includes("--help") || argv.includes("-h");
  const cwd = io.cwd ?? process.cwd();
  const entry = await loadExecEnv(execenvArgument(argv, io.env), { registry, from: lookupDirs(io), cwd });
  const spelled = sierraSpellings(
    argv,
    entry.execenv.name,
    describeOptions(entry.execenv.options).map((o) => o.flag),
  );
  for (const note of spelled.notes) io.stderr.write(`sierra: note: ${note}\n`);
  const program = buildProgram(entry, io);
  try {
    program.parse(spelled.argv, { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.exitCode === 0 || wantsHelp) return 0;
    throw usageError(error, registry);
  }
  const raw = program.opts();
  const core = parseOptions(coreOptionsSchema, { ...raw, execenv: entry.execenv.name }, io.env);
  const options = parseOptions(entry.execenv.options, raw, io.env);
  assertCapabilities(entry.execenv, core);
  const plan = planBatch(core, { paradigmGiven: raw.execParallelismParadigm !== undefined });

  if (core.dryRun) {
    // The exact bytes that `bash -c` would run, UTF-8 or not.
    for (const run of plan.runs) {
      io.stdout.write(
        Buffer.concat([Buffer.from(`${run.id}\t`), commandBytes(run.command), Buffer.from("\n")]),
      );
    }
    return 0;
  }

  if (plan.runs.length === 0) {
    const why =
      plan.skipped > 0 ? `all ${plan.skipped} selected runs succeeded before` : "the selection has no runs";
    io.stderr.write(`sierra: nothing to run: ${why}\n`);
    return 0;
  }
  const header = [`execenv ${entry.execenv.name}, batch ${plan.batch.root}`];
  if (plan.skipped > 0) header.push(`--exec-resume: ${plan.skipped} runs succeeded before, skipping them`);
  const reporter = createReporter({ stream: io.stderr, verbose, header });
  const result = await executeBatch({
    plan,
    execenv: entry.execenv,
    options,
    core,
    log: reporter.log,
    observer: reporter,
  });
  reporter.finish();
  if (result.error !== undefined) {
    const { message, stack } = result.error as Error;
    reporter.log.info(
      isSierraError(result.error)
        ? errorLine(`error: ${message}`, verbose)
        : `${errorLine(`error: execenv ${entry.execenv.name} failed: ${message}`, verbose)}${verbose ? `\n${stack}` : ""}`,
    );
    // Nothing ran: the error line is all there is to say.
    if (result.succeeded + result.failed.length === 0 && !result.stoppedBy) return result.exitCode;
  }
  printSummary(result, plan.batch.root, reporter.log);
  return result.exitCode;
}
