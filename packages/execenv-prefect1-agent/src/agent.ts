// The Prefect 1 local agent a batch starts: spawned as the leader of its own process group
// (its flow-run processes join that group), ready once its /api/health answers. It handles
// only SIGINT and never stops its flow runs, so stopping it is SIGINT, then TERM and KILL to
// whatever is left of its group. An agent that dies mid-batch is started again: its running
// flow-run processes carry on without it, and the new one picks up the flow runs to come.
import { setTimeout as sleep } from "node:timers/promises";
import { HelperProcess, KeepAlive, type Logger, SierraError } from "@sierra-exec/core";
import getPort from "get-port";

export interface AgentSettings {
  python: string;
  /** The unique label of the batch, and the user's. */
  labels: string[];
  port: number;
  showFlowLogs: boolean;
  importPaths: string[];
}

/** The command line of `prefect agent local start` for a batch. */
export function agentArgs(settings: AgentSettings): string[] {
  return [
    "-m",
    "prefect",
    "agent",
    "local",
    "start",
    // Agents sharing a label duplicate runs: only the batch's own labels, no hostname.
    "--no-hostname-label",
    ...settings.labels.flatMap((label) => ["--label", label]),
    // Its /api/poke lets us skip the poll back-off (up to 10 s).
    "--agent-address",
    `http://127.0.0.1:${settings.port}`,
    ...settings.importPaths.flatMap((dir) => ["--import-path", dir]),
    ...(settings.showFlowLogs ? ["--show-flow-logs"] : []),
  ];
}

export interface Agent {
  /** The agent process now serving (a new one after a restart). */
  alive: KeepAlive;
  /** Resolves once the agent answers on its API; rejects with a SierraError if it never does. */
  ready: Promise<void>;
  /** Makes the agent poll for flow runs now instead of after its back-off. */
  poke(): Promise<void>;
  stop(graceMs: number): Promise<void>;
}

const READY_TIMEOUT_MS = 120_000;
const AGENT_LINE = /^\[[^\]]*\] \w+ - agent \| /;
/**
 * How long the agent gets after SIGINT before its group is terminated. It stops polling at
 * once; the rest of its shutdown is two thread joins of up to 1 s each, for daemon threads.
 */
const SIGINT_GRACE_MS = 1000;

interface Started {
  process: HelperProcess;
  base: string;
  ready: Promise<void>;
}

/** One agent process, on a free port of its own. */
async function spawnAgent(
  settings: Omit<AgentSettings, "port">,
  {
    env,
    cwd,
    log,
    showFlowLogs,
  }: { env: Record<string, string>; cwd: string; log: Logger; showFlowLogs: boolean },
): Promise<Started> {
  const port = await getPort({ host: "127.0.0.1" });
  // With --show-flow-logs the flow runs' output comes through the agent's stdout, after the
  // agent's banner and mixed with its own log lines ("... - agent | ...").
  let started = false;
  const agent = await HelperProcess.start(
    "the Prefect 1 agent",
    settings.python,
    agentArgs({ ...settings, port }),
    {
      env,
      cwd,
      onLine: (line) => {
        if (showFlowLogs && started && !AGENT_LINE.test(line)) log.info(`prefect: ${line}`);
        else log.debug(`prefect agent: ${line}`);
        started ||= line.includes("Waiting for flow runs");
      },
    },
  );
  const base = `http://127.0.0.1:${port}/api`;
  const ready = (async () => {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (!agent.running) {
        await agent.exited;
        throw new SierraError(`${agent.describeExit()}: see the agent's output with --verbose`);
      }
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
  return { process: agent, base, ready };
}

/** Starts the agent; it polls the backend once `ready` resolves. `onStarted` gets each agent process. */
export async function startAgent(
  settings: Omit<AgentSettings, "port">,
  options: { env: Record<string, string>; cwd: string; log: Logger; showFlowLogs: boolean },
  onStarted: (agent: HelperProcess) => void,
): Promise<Agent> {
  let current = await spawnAgent(settings, options);
  onStarted(current.process);
  const alive = new KeepAlive(
    current.process,
    async () => {
      const next = await spawnAgent(settings, options);
      onStarted(next.process);
      await next.ready;
      current = next;
      return next.process;
    },
    options.log,
  );
  return {
    alive,
    ready: current.ready,
    poke: async () => {
      await fetch(`${current.base}/poke`).then(
        (response) => response.body?.cancel(),
        () => {},
      );
    },
    // Its flow-run processes, and anything else left in its group, after SIGINT to the agent.
    stop: (graceMs) =>
      alive.process.stop({ graceMs, leaderFirst: { signal: "SIGINT", waitMs: SIGINT_GRACE_MS } }),
  };
}
