// Prefect flow-run states as the CLI reads, reports and sets them.
import type { FlowRun, PrefectClient, StateType } from "./api.js";

const TERMINAL: ReadonlySet<StateType> = new Set(["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]);

export const isTerminal = (type: StateType | null | undefined): boolean =>
  type !== null && type !== undefined && TERMINAL.has(type);

/** The states the CLI sets, with the names Prefect gives them. */
export const STATE_NAMES = { CANCELLING: "Cancelling", CANCELLED: "Cancelled", CRASHED: "Crashed" } as const;

/**
 * Proposes a state for flow run `id` (the server may refuse it: a final state stays), or sets
 * it with `force`. Resolves with the server's answer; rejects if the server cannot be reached.
 */
export const setFlowRunState = (
  client: PrefectClient,
  id: string,
  type: keyof typeof STATE_NAMES,
  message: string,
  force = false,
) =>
  client.POST("/flow_runs/{id}/set_state", {
    params: { path: { id } },
    body: { state: { type, name: STATE_NAMES[type], message }, force },
  });

/** One line for a flow run's state, e.g. `Failed (1/8 runs failed: a/run3)`. */
export function describeState(flowRun: Pick<FlowRun, "state_type" | "state_name" | "state">): string {
  const name = flowRun.state_name ?? flowRun.state_type ?? "unknown";
  return flowRun.state?.message ? `${name} (${flowRun.state.message})` : name;
}
