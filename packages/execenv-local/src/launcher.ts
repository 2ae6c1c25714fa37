// Drives python/launcher.py: streams the runs to it and turns its start and end
// messages into the core's run events.
import { once } from "node:events";
import { createInterface } from "node:readline";
import type { ExecuteContext, Run } from "@sierra-exec/core";
import { spawnGroup, stopProcessGroup } from "@sierra-exec/core";

export const LAUNCHER = new URL("../python/launcher.py", import.meta.url).pathname;

interface LauncherSettings {
  python: string;
  killGrace: number;
}

type LauncherMessage =
  | { started: string; pid: number; at: number }
  | {
      ended: string;
      code: number | null;
      signal: string | null;
      startedAt: number;
      at: number;
      error?: string;
    };

export async function runWithLauncher(
  runs: readonly Run[],
  ctx: ExecuteContext<LauncherSettings, unknown>,
): Promise<void> {
  const { python, killGrace } = ctx.options;
  const launcher = spawnGroup(
    python,
    [LAUNCHER, String(ctx.jobs), String(killGrace), ctx.core.execStrict ? "strict" : "lenient"],
    {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
      buffer: false,
      env: { SIERRA_EXEC_ID: ctx.executionId },
    },
  );
  const byId = new Map(runs.map((run) => [run.id, run]));
  const pids = new Map<string, number>();

  const stop = () => launcher.stdin?.write('{"stop":true}\n');
  ctx.signal.addEventListener("abort", stop, { once: true });
  if (ctx.signal.aborted) stop();

  const lines = createInterface({ input: launcher.stdout as NodeJS.ReadableStream });
  lines.on("line", (line) => {
    const message = JSON.parse(line) as LauncherMessage;
    if ("started" in message) {
      const run = byId.get(message.started) as Run;
      pids.set(run.id, message.pid);
      ctx.runStarted(run, { pid: message.pid, at: new Date(message.at) });
    } else {
      const run = byId.get(message.ended) as Run;
      pids.delete(run.id);
      ctx.runEnded(run, {
        exitCode: message.code,
        signal: message.signal,
        startedAt: new Date(message.startedAt),
        finishedAt: new Date(message.at),
        ...(message.error ? { error: message.error } : {}),
      });
    }
  });

  const input = runs.map((run) =>
    JSON.stringify({
      run: run.id,
      cmd: run.command,
      cwd: run.cwd,
      env: run.env,
      stdout: run.stdout,
      stderr: run.stderr,
    }),
  );
  // The launcher stops its runs when its stdin closes (the CLI died), so it stays open
  // until the launcher is done; it exits by itself after "end".
  launcher.stdin?.on("error", () => {});
  launcher.stdin?.write(`${input.join("\n")}\n{"end":true}\n`);
  const [result] = await Promise.all([launcher, once(lines, "close")]);
  launcher.stdin?.destroy();
  ctx.signal.removeEventListener("abort", stop);
  // A launcher that died on its own leaves its runs without an end: stop them here.
  await Promise.all([...pids.values()].map((pgid) => stopProcessGroup(pgid, { graceMs: killGrace * 1000 })));
  if (result.exitCode !== 0 && !ctx.signal.aborted) {
    throw new Error(`the run launcher exited with status ${result.exitCode ?? result.signal}`);
  }
}
