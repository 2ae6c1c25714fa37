// The Prefect 1 local agent a batch starts: spawned as the leader of its own process group
// (its flow-run processes join that group), ready once its /api/health answers. It handles
// only SIGINT and never stops its flow runs, so stopping it is SIGINT, then TERM and KILL to
// whatever is left of its group.
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { type Logger, SierraError, spawnGroup, stopProcessGroup } from "@sierra-exec/core";
import getPort from "get-port";
import { type AgentSettings, agentArgs } from "./isolation.js";

export interface Agent {
  pid: number;
  /** Resolves once the agent answers on its API; rejects with a SierraError if it never does. */
  ready: Promise<void>;
  /** Makes the agent poll for flow runs now instead of after its back-off. */
  poke(): Promise<void>;
  /** Resolves with a message when the agent exits by itself. */
  exited: Promise<string>;
  stop(graceMs: number): Promise<void>;
}

const READY_TIMEOUT_MS = 120_000;
const AGENT_LINE = /^\[[^\]]*\] \w+ - agent \| /;
/**
 * How long the agent gets after SIGINT before its group is terminated. It stops polling at
 * once; the rest of its shutdown is two thread joins of up to 1 s each, for daemon threads.
 */
const SIGINT_GRACE_MS = 1000;

/** Starts the agent; it polls the backend once `ready` resolves. */
export async function startAgent(
  settings: Omit<AgentSettings, "port">,
  {
    env,
    cwd,
    log,
    showFlowLogs,
  }: { env: Record<string, string>; cwd: string; log: Logger; showFlowLogs: boolean },
): Promise<Agent> {
  const port = await getPort({ host: "127.0.0.1" });
  const { child } = await spawnGroup(settings.python, agentArgs({ ...settings, port }), {
    env,
    extendEnv: false,
    cwd,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    buffer: false,
  });
  const pid = child.pid as number;
  // With --show-flow-logs the flow runs' output comes through the agent's stdout, after the
  // agent's banner and mixed with its own log lines ("... - agent | ...").
  const recent: string[] = [];
  let started = false;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream as NodeJS.ReadableStream }).on("line", (line) => {
      recent.push(line);
      if (recent.length > 20) recent.shift();
      if (showFlowLogs && started && !AGENT_LINE.test(line)) log.info(`prefect: ${line}`);
      else log.debug(`prefect agent: ${line}`);
      started ||= line.includes("Waiting for flow runs");
    });
  }
  let running = true;
  const exited = child.then((result) => {
    running = false;
    const last = recent.filter((line) => line.trim()).at(-1) ?? "no output";
    return `the Prefect 1 agent exited with ${result.exitCode ?? result.signal} (${last})`;
  });
  const base = `http://127.0.0.1:${port}/api`;

  const stop = async (graceMs: number) => {
    if (running) {
      try {
        process.kill(pid, "SIGINT");
        await Promise.race([exited, sleep(SIGINT_GRACE_MS)]);
      } catch {
        // it exited just now
      }
    }
    // Its flow-run processes, and anything else left in its group.
    await stopProcessGroup(pid, { graceMs });
    await exited;
  };

  const ready = (async () => {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (!running) throw new SierraError(`${await exited}: see the agent's output with --verbose`);
      const health = await fetch(`${base}/health`).catch(() => undefined);
      await health?.body?.cancel();
      if (health?.ok) return;
      if (Date.now() > deadline) {
        throw new SierraError(`the Prefect 1 agent did not answer on ${base}/health within 120 s`);
      }
      await sleep(100);
    }
  })();
  // Whoever waits for it sees the failure; stopping the agent does not need it.
  ready.catch(() => {});
  return {
    pid,
    ready,
    exited,
    poke: async () => {
      await fetch(`${base}/poke`).then(
        (response) => response.body?.cancel(),
        () => {},
      );
    },
    stop,
  };
}
