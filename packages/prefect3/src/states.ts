// How Prefect states and the flow's run events become the core's run outcomes.
import type { RunOutcome } from "@sierra-exec/core";
import type { FlowRun, StateType } from "./api.js";

export const TERMINAL: ReadonlySet<StateType> = new Set(["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]);

export const isTerminal = (type: StateType | null | undefined): boolean =>
  type !== null && type !== undefined && TERMINAL.has(type);

/** What python/flow.py writes to a flow run's events file, one JSON object per line; times in seconds. */
export type RunEvent =
  | { started: string; pid: number; at: number }
  | {
      ended: string;
      code: number | null;
      signal: string | null;
      startedAt: number;
      at: number;
      error?: string;
    };

const fromSeconds = (seconds: number) => new Date(Math.round(seconds * 1000));

export function outcomeOf(event: Extract<RunEvent, { ended: string }>): RunOutcome {
  return {
    exitCode: event.code,
    signal: event.signal,
    startedAt: fromSeconds(event.startedAt),
    finishedAt: fromSeconds(event.at),
    ...(event.error ? { error: event.error } : {}),
  };
}

/** The end of a run that started but whose end the flow never wrote: its flow run ended first. */
export function lostOutcome(flowRun: Pick<FlowRun, "state_type" | "state">): RunOutcome {
  const message = flowRun.state?.message ? `: ${flowRun.state.message}` : "";
  return { exitCode: null, signal: null, error: `flow run ${flowRun.state_type}${message}` };
}

/** One line for a flow run's state, e.g. `Failed (1/8 runs failed: a/run3)`. */
export function describeState(flowRun: Pick<FlowRun, "state_type" | "state_name" | "state">): string {
  const name = flowRun.state_name ?? flowRun.state_type ?? "unknown";
  return flowRun.state?.message ? `${name} (${flowRun.state.message})` : name;
}

/** Splits appended text into complete event lines, keeping a torn last line for later. */
export function parseEvents(buffered: string): { events: RunEvent[]; rest: string } {
  const lines = buffered.split("\n");
  const rest = lines.pop() ?? "";
  return { events: lines.filter(Boolean).map((line) => JSON.parse(line) as RunEvent), rest };
}
