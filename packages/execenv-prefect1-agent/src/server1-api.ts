// The GraphQL operations the plugin itself sends to Prefect Server 1 (or the embedded
// backend): creating, cancelling and watching flow runs. Each is an operation Server 1
// defines (its graphql/schema/*.graphql and Hasura tables); ids go inline, as Prefect's
// own client writes them.
import { SierraError } from "@sierra-exec/core";
import { serializedState } from "./states.js";

export const OPERATIONS = {
  createFlowRun: `mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }`,
  cancelFlowRun: `mutation($input: cancel_flow_run_input!) { cancel_flow_run(input: $input) { state } }`,
  setFlowRunStates: `mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { id status message } } }`,
  flowRunProgress: (flowRunId: string) =>
    `query { flow_run_by_pk(id: ${JSON.stringify(flowRunId)}) { state state_message heartbeat task_runs { state state_message state_timestamp task { slug } } } }`,
};

export interface TaskRunProgress {
  state: string | null;
  state_message: string | null;
  state_timestamp: string | null;
  task: { slug: string };
}

export interface FlowRunProgress {
  state: string | null;
  state_message: string | null;
  /** When its flow runner last said it is alive. */
  heartbeat: string | null;
  task_runs: TaskRunProgress[];
}

export class Server1Api {
  constructor(readonly url: string) {}

  async request<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query, variables: variables ?? null }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new SierraError(
        `cannot reach the Prefect 1 API at ${this.url} (${(error as Error).message}): check --prefect1-api and that the server runs`,
      );
    }
    const body = (await response.json().catch(() => ({}))) as {
      data?: T;
      errors?: Array<{ message: string }>;
    };
    if (body.errors?.length || !body.data) {
      throw new Error(`Prefect 1 API ${this.url}: ${body.errors?.[0]?.message ?? `HTTP ${response.status}`}`);
    }
    return body.data;
  }

  async createFlowRun(input: {
    flow_id: string;
    flow_run_name: string;
    idempotency_key: string;
  }): Promise<string> {
    const data = await this.request<{ create_flow_run: { id: string } }>(OPERATIONS.createFlowRun, { input });
    return data.create_flow_run.id;
  }

  async cancelFlowRun(flowRunId: string): Promise<void> {
    await this.request(OPERATIONS.cancelFlowRun, { input: { flow_run_id: flowRunId } });
  }

  /** Marks a flow run that nothing will finish any more (its processes are gone) Cancelled. */
  async setCancelled(flowRunId: string, message: string): Promise<void> {
    const state = serializedState("Cancelled", message);
    await this.request(OPERATIONS.setFlowRunStates, {
      input: { states: [{ flow_run_id: flowRunId, state }] },
    });
  }

  async progress(flowRunId: string): Promise<FlowRunProgress> {
    const data = await this.request<{ flow_run_by_pk: FlowRunProgress | null }>(
      OPERATIONS.flowRunProgress(flowRunId),
    );
    if (!data.flow_run_by_pk)
      throw new Error(`flow run ${flowRunId} is not in the Prefect 1 API at ${this.url}`);
    return data.flow_run_by_pk;
  }
}
