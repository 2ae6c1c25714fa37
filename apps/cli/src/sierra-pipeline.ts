// SIERRA's pipeline arguments given to our `sierra` (--pipeline, --sierra-root, --project,
// without --batch-root): SIERRA runs its pipeline, every stage of it, with our plugin set on
// SIERRA_PLUGIN_PATH, so that `--execenv=<ours>` hands stage 2 back to us between the
// engine's hooks. The result is the same whichever `sierra` is first on PATH; only the exit
// status is ours: SIERRA exits 0 when runs failed, we exit as our stage 2 did.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { groupAlive, type Logger, signalExitStatus, spawnGroup, stopProcessGroup } from "@sierra-exec/core";
import type { CliIo } from "./main.js";
import { findSierra } from "./sierra-install.js";
import { CLI_BIN, SIERRA_PLUGINS_DIR } from "./sierra-plugins.js";

const PIPELINE_FLAGS = ["--pipeline", "--sierra-root", "--project"];
const has = (argv: string[], flag: string) => argv.some((arg) => arg === flag || arg.startsWith(`${flag}=`));

/** SIERRA's pipeline arguments and no batch root: SIERRA's job, with us as its stage 2. */
export const isSierraPipeline = (argv: string[]) =>
  !has(argv, "--batch-root") && PIPELINE_FLAGS.some((flag) => has(argv, flag));

/** `--sierra-python PATH` is ours: taken out of what SIERRA gets. */
function takeSierraPython(argv: string[]): { python: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let python: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (arg === "--sierra-python") python = argv[++i];
    else if (arg.startsWith("--sierra-python=")) python = arg.slice("--sierra-python=".length);
    else rest.push(arg);
  }
  return { python, rest };
}

/** SIERRA's console script, from the interpreter that has it. */
const LAUNCH = "import sys; from sierra.main import main; sys.argv[0] = 'sierra'; sys.exit(main())";

/** How long SIERRA's stage 2 on us may take to stop its batch after SIERRA itself is gone. */
const STAGE2_STOP_MS = 60_000;

/** Our stage 2's exit statuses as the plugin recorded them: the worst one is ours. */
function stage2Status(file: string): number {
  let statuses: number[] = [];
  try {
    statuses = readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return 0; // no stage 2 ran on us
  }
  const interrupted = statuses.find((status) => status > 128);
  if (interrupted) return interrupted;
  return Math.max(0, ...statuses);
}

export async function runSierraPipeline(argv: string[], io: CliIo, verbose: boolean): Promise<number> {
  const { python: option, rest } = takeSierraPython(argv);
  const log: Logger = {
    info: (line) => io.stderr.write(`sierra: ${line}\n`),
    warn: (line) => io.stderr.write(`sierra: warning: ${line}\n`),
    debug: (line) => (verbose ? io.stderr.write(`sierra: ${line}\n`) : undefined),
  };
  const controller = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  let pgid: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    stoppedBy ??= signal;
    controller.abort();
    // SIERRA and our stage 2 under it stop as on a Ctrl-C at a terminal: the whole group.
    if (pgid !== undefined) {
      try {
        process.kill(-pgid, signal);
      } catch {
        // already gone
      }
    }
  };
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const signal of signals) process.on(signal, onSignal);
  const statusDir = mkdtempSync(path.join(tmpdir(), "sierra-stage2-"));
  try {
    const python = await findSierra(option, { log, signal: controller.signal, env: io.env }).catch(
      (error) => {
        if (stoppedBy) return undefined;
        throw error;
      },
    );
    if (!python || stoppedBy) return signalExitStatus(stoppedBy ?? "SIGINT");
    const statusFile = path.join(statusDir, "status");
    const pluginPath = [io.env.SIERRA_PLUGIN_PATH, SIERRA_PLUGINS_DIR].filter(Boolean).join(path.delimiter);
    log.debug(`running SIERRA (${python}) with SIERRA_PLUGIN_PATH=${pluginPath}`);
    const { child } = await spawnGroup(python, ["-c", LAUNCH, ...rest], {
      env: {
        ...io.env,
        SIERRA_PLUGIN_PATH: pluginPath,
        SIERRA_EXEC_NODE: process.execPath,
        SIERRA_EXEC_CLI: CLI_BIN,
        SIERRA_EXEC_STATUS_FILE: statusFile,
      },
      extendEnv: false,
      stdin: "ignore",
      stdout: "inherit",
      stderr: "inherit",
      ...(io.cwd ? { cwd: io.cwd } : {}),
    });
    pgid = child.pid;
    const result = await child;
    if (pgid !== undefined) {
      // SIERRA returns on a Ctrl-C before our stage 2 under it has stopped its batch.
      const deadline = Date.now() + STAGE2_STOP_MS;
      while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
      if (groupAlive(pgid)) await stopProcessGroup(pgid, { signal: "SIGKILL" });
    }
    if (stoppedBy) return signalExitStatus(stoppedBy);
    if (result.exitCode !== 0) {
      log.info(
        `error: SIERRA exited with status ${result.exitCode ?? result.signal} (its messages are above)`,
      );
      return 2;
    }
    return stage2Status(statusFile);
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    rmSync(statusDir, { recursive: true, force: true });
  }
}
