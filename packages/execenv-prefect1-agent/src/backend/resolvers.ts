// Maps the GraphQL operations of Server 1's API onto the store. Each resolver returns what
// Server 1 returns; the client reads only a few fields of it.
import { randomUUID } from "node:crypto";
import { gunzipSync } from "node:zlib";
import type { SerializedState } from "../states.js";
import type { ListArgs, Row } from "./hasura.js";
import { select } from "./hasura.js";
import type { FlowInput, Store } from "./store.js";

/** What a resolver sees of its HTTP request. */
export interface RequestContext {
  /** The agent's `X-PREFECT-AGENT-ID` header, if any. */
  agentId?: string;
}

type Input<T> = { input: T };
const ok = { success: true, error: null };

export function resolvers(store: Store) {
  const byId = <T extends { id: string }>(rows: T[], id: string) => rows.find((row) => row.id === id);
  return {
    hello: () => "hello",
    tenant: (args: ListArgs) => select([store.tenant], args),
    project: (args: ListArgs) => select(store.projects.map(store.projectView), args),
    flow: (args: ListArgs) => select(store.flows.map(store.flowView) as Row[], args),
    flow_by_pk: ({ id }: { id: string }) => store.flowView(byId(store.flows, id)),
    task: (args: ListArgs) => select(store.tasks.map(store.taskView), args),
    flow_run: (args: ListArgs) => select(store.flowRuns.map(store.flowRunView) as Row[], args),
    flow_run_by_pk: ({ id }: { id: string }) => store.flowRunView(byId(store.flowRuns, id)),
    task_run: (args: ListArgs) => select(store.taskRuns.map(store.taskRunView) as Row[], args),
    task_run_by_pk: ({ id }: { id: string }) => store.taskRunView(byId(store.taskRuns, id)),
    get_task_run_info: ({ task_run_id }: { task_run_id: string }) => {
      const taskRun = byId(store.taskRuns, task_run_id);
      if (!taskRun) throw new Error("Invalid task run ID");
      return taskRun;
    },

    create_project: ({ input }: Input<{ tenant_id: string; name: string; description?: string }>) => ({
      id: store.createProject(input),
    }),
    create_flow_from_compressed_string: ({
      input,
    }: Input<{ project_id: string; serialized_flow: string; version_group_id?: string }>) => ({
      id: store.createFlow(
        input,
        JSON.parse(gunzipSync(Buffer.from(input.serialized_flow, "base64")).toString("utf8")),
      ),
    }),
    create_flow: ({
      input,
    }: Input<{ project_id: string; serialized_flow: FlowInput; version_group_id?: string }>) => ({
      id: store.createFlow(input, input.serialized_flow),
    }),
    register_tasks: ({
      input,
    }: Input<{ flow_id: string; serialized_tasks: Array<{ name: string; slug: string }> }>) => {
      store.registerTasks(input.flow_id, input.serialized_tasks);
      return ok;
    },
    // Edges only order tasks, which the flow runner does from its own copy of the flow.
    register_edges: () => ok,
    create_flow_run: ({ input }: Input<Parameters<Store["createFlowRun"]>[0]>) => ({
      id: store.createFlowRun(input),
    }),
    register_agent: ({ input }: Input<Row>) => {
      const agent = { ...input, id: randomUUID(), created: new Date().toISOString() };
      store.agents.push(agent);
      return { id: agent.id };
    },
    get_runs_in_queue: (
      { input }: Input<{ labels?: string[]; before?: string }>,
      context: RequestContext,
    ) => ({ flow_run_ids: store.runsInQueue(input.labels ?? [], input.before, context.agentId) }),
    set_flow_run_states: (
      { input }: Input<{ states: Array<{ flow_run_id: string; state: SerializedState }> }>,
      context: RequestContext,
    ) => ({
      states: input.states.map(({ flow_run_id, state }) => {
        store.setFlowRunState(flow_run_id, state, context.agentId);
        return { id: flow_run_id, status: "SUCCESS", message: null };
      }),
    }),
    set_task_run_states: ({
      input,
    }: Input<{ states: Array<{ task_run_id: string; state: SerializedState }> }>) => ({
      states: input.states.map(({ task_run_id, state }) => {
        store.setTaskRunState(task_run_id, state);
        return { id: task_run_id, status: "SUCCESS", message: null };
      }),
    }),
    cancel_flow_run: ({ input }: Input<{ flow_run_id: string }>) => ({
      state: store.cancelFlowRun(input.flow_run_id),
    }),
    get_or_create_task_run_info: ({
      input,
    }: Input<{ flow_run_id: string; task_id: string; map_index?: number }>) =>
      store.getOrCreateTaskRun(input.flow_run_id, input.task_id, input.map_index ?? -1),
    update_flow_run_heartbeat: ({ input }: Input<{ flow_run_id: string }>) => {
      const run = byId(store.flowRuns, input.flow_run_id);
      if (run) run.heartbeat = new Date().toISOString();
      return ok;
    },
    update_task_run_heartbeat: ({ input }: Input<{ task_run_id: string }>) => {
      const run = byId(store.taskRuns, input.task_run_id);
      if (run) run.heartbeat = new Date().toISOString();
      return ok;
    },
    write_run_logs: ({ input }: Input<{ logs: Row[] }>) => {
      for (const log of input.logs)
        store.logs.push({ id: randomUUID(), timestamp: new Date().toISOString(), ...log });
      return ok;
    },
    set_flow_run_name: ({ input }: Input<{ flow_run_id: string; name: string }>) => {
      const run = byId(store.flowRuns, input.flow_run_id);
      if (run) run.name = input.name;
      return ok;
    },
    set_task_run_name: ({ input }: Input<{ task_run_id: string; name: string }>) => {
      const run = byId(store.taskRuns, input.task_run_id);
      if (run) run.name = input.name;
      return ok;
    },
  };
}
