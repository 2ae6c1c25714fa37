// Prefect flow-run states as the CLI reads and reports them.
import type { FlowRun, StateType } from "./api.js";

const TERMINAL: ReadonlySet<StateType> = new Set(["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]);

export const isTerminal = (type: StateType | null | undefined): boolean =>
  type !== null && type !== undefined && TERMINAL.has(type);

/** One line for a flow run's state, e.g. `Failed (1/8 runs failed: a/run3)`. */
export function describeState(flowRun: Pick<FlowRun, "state_type" | "state_name" | "state">): string {
  const name = flowRun.state_name ?? flowRun.state_type ?? "unknown";
  return flowRun.state?.message ? `${name} (${flowRun.state.message})` : name;
}
