// The embedded backend over HTTP, as Prefect 1's client talks to it: generated query text
// with inline literals, `variables` as a JSON string, fields in any order. The documents
// below are the ones Prefect 1.4.1's client sent in the research capture.
import { gzipSync } from "node:zlib";
import { parse, validate } from "graphql";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Backend, startBackend } from "../src/backend/index.js";
import { schema } from "../src/backend/schema.js";
import { OPERATIONS } from "../src/server1-api.js";
import { serializedState } from "../src/states.js";

let backend: Backend;
beforeEach(async () => {
  backend = await startBackend();
});
afterEach(() => backend.close());

// biome-ignore lint/suspicious/noExplicitAny: GraphQL results are checked field by field
type Data = any;

/** POSTs like Prefect's client: `variables` JSON-encoded into a string. */
async function post(query: string, variables?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(backend.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables: JSON.stringify(variables ?? null) }),
  });
  return (await response.json()) as { data?: Data; errors?: Array<{ message: string }> };
}

async function data(query: string, variables?: unknown, headers?: Record<string, string>): Promise<Data> {
  const result = await post(query, variables, headers);
  expect(result.errors).toBeUndefined();
  return result.data;
}

const tenantId = async () =>
  (await data("query {\n    tenant {\n        id\n    }\n}")).tenant[0].id as string;

/** Registers a flow the way `flow.register()` does; returns its id. */
async function registerFlow(labels: string[] | null, slugs = ["a-1", "b-1"]): Promise<string> {
  const tenant = await tenantId();
  const created = await post(
    "mutation($input: create_project_input!) {\n    create_project(input: $input) {\n        id\n    }\n}",
    { input: { name: "sierra", description: null, tenant_id: tenant } },
  );
  let projectId = created.data?.create_project?.id;
  if (!projectId) {
    expect(created.errors?.[0]?.message).toContain("Uniqueness violation.");
    projectId = (
      await data('query {\n    project(where: { name: { _eq: "sierra" } }) {\n        id\n    }\n}')
    ).project[0].id;
  }
  const flow = {
    name: "f",
    storage: { type: "Local", path: "/abs/flow.py", stored_as_script: true },
    run_config: labels === null ? null : { type: "LocalRun", labels, env: null, working_dir: null },
    environment: null,
    parameters: [],
    __version__: "1.4.1",
  };
  const flowId = (
    await data(
      "mutation($input: create_flow_from_compressed_string_input!) {\n    create_flow_from_compressed_string(input: $input) {\n        id\n    }\n}",
      {
        input: {
          project_id: projectId,
          serialized_flow: gzipSync(JSON.stringify(flow)).toString("base64"),
          set_schedule_active: false,
          version_group_id: null,
        },
      },
    )
  ).create_flow_from_compressed_string.id;
  await data(
    "mutation($input: register_tasks_input!) {\n    register_tasks(input: $input) {\n        success\n    }\n}",
    {
      input: { flow_id: flowId, serialized_tasks: slugs.map((slug) => ({ slug, name: slug, type: "t" })) },
    },
  );
  return flowId;
}

const createRun = async (flowId: string, extra: Record<string, unknown> = {}) =>
  (
    await data(
      "mutation($input: create_flow_run_input!) {\n    create_flow_run(input: $input) {\n        id\n    }\n}",
      {
        input: { flow_id: flowId, idempotency_key: "k1", flow_run_name: "r", ...extra },
      },
    )
  ).create_flow_run.id as string;

const setFlowState = (id: string, type: string, headers?: Record<string, string>) =>
  post(
    "mutation($input: set_flow_run_states_input!) {\n    set_flow_run_states(input: $input) {\n        states {\n            message\n            status\n            id\n        }\n    }\n}",
    { input: { states: [{ flow_run_id: id, version: null, state: serializedState(type, type) }] } },
    headers,
  );

const setTaskState = (id: string, type: string) =>
  post(
    "mutation($input: set_task_run_states_input!) {\n    set_task_run_states(input: $input) {\n        states {\n            id\n            status\n            message\n        }\n    }\n}",
    { input: { states: [{ task_run_id: id, version: 0, state: serializedState(type, type) }] } },
  );

/** The flow runner's get_flow_run_info query (F2), fields in one of their random orders. */
const flowRunInfo = async (id: string) =>
  (
    await data(
      `query {\n    flow_run_by_pk(id: "${id}") {\n        id\n        name\n        flow_id\n        parameters\n        context\n        version\n        scheduled_start_time\n        serialized_state\n        task_runs(where: { map_index: { _eq: -1 } }) {\n            id\n            task {\n                slug\n                id\n            }\n            version\n            serialized_state\n        }\n        flow {\n            project {\n                name\n                id\n            }\n        }\n    }\n}`,
    )
  ).flow_run_by_pk;

describe("the embedded Prefect 1 backend", () => {
  it("binds 127.0.0.1 and answers a tenant", async () => {
    expect(new URL(backend.url).hostname).toBe("127.0.0.1");
    expect(await tenantId()).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("creates a flow run as Server 1: Scheduled v1, run_config and labels copied, a Pending task run per task", async () => {
    const flowId = await registerFlow(["sierra-x", "a"]);
    const id = await createRun(flowId);
    expect(await createRun(flowId)).toBe(id); // same idempotency key, same run
    const run = await flowRunInfo(id);
    expect(run.version).toBe(1);
    expect(run.serialized_state).toMatchObject({ type: "Scheduled", message: "Flow run scheduled." });
    expect(Date.parse(run.scheduled_start_time)).not.toBeNaN();
    expect(
      run.task_runs.map((taskRun: Data) => [
        taskRun.task.slug,
        taskRun.version,
        taskRun.serialized_state.type,
      ]),
    ).toEqual([
      ["a-1", 0, "Pending"],
      ["b-1", 0, "Pending"],
    ]);
    const stored = backend.store.flowRuns[0];
    expect(stored?.labels).toEqual(["a", "sierra-x"]);
    expect(stored?.run_config).toMatchObject({ type: "LocalRun", labels: ["sierra-x", "a"] });
    // F1: what `prefect execute flow-run` asks first.
    const f1 = await data(
      `query {\n    flow_run(where: { id: { _eq: "${id}" } }) {\n        flow {\n            name\n            storage\n            run_config\n        }\n        version\n    }\n}`,
    );
    expect(f1.flow_run[0].flow.storage.path).toBe("/abs/flow.py");
  });

  it("queues runs only for agents that have all their labels; unlabelled runs only for unlabelled agents", async () => {
    const labelled = await createRun(await registerFlow(["x"]), { idempotency_key: "1" });
    const unlabelled = await createRun(await registerFlow(null, ["c-1"]), { idempotency_key: "2" });
    const queue = async (labels: string[]) =>
      (
        await data(
          "mutation($input: get_runs_in_queue_input!) {\n    get_runs_in_queue(input: $input) {\n        flow_run_ids\n    }\n}",
          {
            input: { before: new Date(Date.now() + 1000).toISOString(), labels, tenant_id: await tenantId() },
          },
        )
      ).get_runs_in_queue.flow_run_ids;
    expect(await queue(["x", "y"])).toEqual([labelled]);
    expect(await queue(["y"])).toEqual([]);
    expect(await queue([])).toEqual([unlabelled]);
  });

  it("bumps versions, locks Submitted for 30 s, and refuses Running tasks unless the flow run is Running", async () => {
    const id = await createRun(await registerFlow(["x"]));
    const agent = { "X-PREFECT-AGENT-ID": "none" };
    expect((await setFlowState(id, "Submitted", agent)).errors).toBeUndefined();
    expect((await setFlowState(id, "Submitted", agent)).errors?.[0]?.message).toContain(
      "State update failed",
    );
    const taskRunId = (await flowRunInfo(id)).task_runs[0].id;
    expect((await setTaskState(taskRunId, "Running")).errors?.[0]?.message).toContain(
      "not in a running state",
    );
    await setFlowState(id, "Running");
    expect((await setTaskState(taskRunId, "Running")).errors).toBeUndefined();
    expect((await setTaskState(taskRunId, "Success")).errors).toBeUndefined();
    const run = await flowRunInfo(id);
    expect(run.version).toBe(3);
    expect(run.task_runs[0]).toMatchObject({ version: 2, serialized_state: { type: "Success" } });
    expect(backend.store.taskRunStates.get(taskRunId)?.map((row) => [row.state, row.version])).toEqual([
      ["Pending", 0],
      ["Running", 1],
      ["Success", 2],
    ]);
  });

  it("cancels: a Running flow run becomes Cancelling, a Scheduled one Cancelled with its unfinished task runs", async () => {
    const flowId = await registerFlow(["x"]);
    const running = await createRun(flowId, { idempotency_key: "1" });
    await setFlowState(running, "Running");
    const cancel = (id: string) => data(OPERATIONS.cancelFlowRun, { input: { flow_run_id: id } });
    expect((await cancel(running)).cancel_flow_run.state).toBe("Cancelling");
    const scheduled = await createRun(flowId, { idempotency_key: "2" });
    expect((await cancel(scheduled)).cancel_flow_run.state).toBe("Cancelled");
    const info = await flowRunInfo(scheduled);
    expect(info.task_runs.map((taskRun: Data) => taskRun.serialized_state.type)).toEqual([
      "Cancelled",
      "Cancelled",
    ]);
  });

  it("accepts a single log where a list is declared, as the failing flow runner sends it", async () => {
    const id = await createRun(await registerFlow(["x"]));
    await data(
      "mutation($input: write_run_logs_input!) {\n    write_run_logs(input: $input) {\n        success\n    }\n}",
      {
        input: {
          logs: { flow_run_id: id, name: "agent", message: "Submitted for execution: PID: 1", level: "INFO" },
        },
      },
    );
    expect(backend.store.logs).toHaveLength(1);
  });

  it("evaluates Hasura where, order_by enum literals and limit", async () => {
    const flowId = await registerFlow(["x"]);
    const first = await createRun(flowId, { idempotency_key: "1" });
    await createRun(flowId, { idempotency_key: "2" });
    const found = await data(
      `query {\n    flow_run(where: { _or: [{ id: { _in: ["${first}"] } }, { state: { _eq: "Running" } }], task_runs: { map_index: { _eq: -1 } } }, order_by: { created: desc }, limit: 5) {\n        id\n        states(order_by: { version: asc }) { version state }\n    }\n}`,
    );
    expect(found.flow_run).toEqual([{ id: first, states: [{ version: 1, state: "Scheduled" }] }]);
  });

  it("answers an unknown operation with a GraphQL error, never a crash", async () => {
    const result = await post("query { nothing_here }");
    expect(result.errors?.[0]?.message).toMatch(/Cannot query field/);
  });

  it("serves every operation the plugin itself sends", async () => {
    for (const document of [
      OPERATIONS.createFlowRun,
      OPERATIONS.cancelFlowRun,
      OPERATIONS.setFlowRunStates,
      OPERATIONS.flowRunProgress("11111111-1111-1111-1111-111111111111"),
    ]) {
      expect(validate(schema, parse(document))).toEqual([]);
    }
  });
});
