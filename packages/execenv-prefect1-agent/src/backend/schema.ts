// The GraphQL schema of the embedded backend: the part of Prefect Server 1's API that the
// Prefect 1.4.1 client, agent and flow runner use, with Server 1's type and field names.
// Hasura's generated argument types (`flow_run_bool_exp`, `..._order_by`) are declared as
// scalars: graphql-js then accepts their inline literals (`where: { id: { _eq: "..." } }`,
// `order_by: { state_timestamp: desc }`) as plain values, which hasura.ts evaluates.
import { buildSchema } from "graphql";

const TABLES = [
  "tenant",
  "project",
  "flow",
  "task",
  "flow_run",
  "flow_run_state",
  "task_run",
  "task_run_state",
  "log",
  "agent",
];

const list = (table: string, type = table) =>
  `${table}(where: ${type}_bool_exp, order_by: [${type}_order_by!], limit: Int, offset: Int): [${type}!]!`;

const SDL = /* GraphQL */ `
scalar JSON
scalar jsonb
scalar UUID
scalar uuid
scalar DateTime
scalar timestamptz
${TABLES.map((table) => `scalar ${table}_bool_exp\nscalar ${table}_order_by`).join("\n")}

type Query {
  hello: String
  ${list("tenant")}
  ${list("project")}
  ${list("flow")}
  flow_by_pk(id: uuid!): flow
  ${list("task")}
  ${list("flow_run")}
  flow_run_by_pk(id: uuid!): flow_run
  ${list("task_run")}
  task_run_by_pk(id: uuid!): task_run
  get_task_run_info(task_run_id: UUID!): task_run_info_payload
}

type tenant { id: uuid name: String slug: String }
type project {
  id: uuid name: String description: String tenant_id: uuid
  ${list("flows", "flow")}
}
type flow {
  id: uuid name: String version: Int version_group_id: String flow_group_id: uuid project_id: uuid
  project: project archived: Boolean storage: jsonb run_config: jsonb environment: jsonb
  core_version: String parameters: jsonb settings: jsonb serialized_flow: jsonb created: timestamptz
  tenant_id: uuid
  ${list("tasks", "task")}
  ${list("flow_runs", "flow_run")}
}
type task { id: uuid name: String slug: String flow_id: uuid flow: flow cache_key: String type: String }
type flow_run {
  id: uuid name: String flow_id: uuid flow: flow labels: jsonb parameters: jsonb context: jsonb
  run_config: jsonb version: Int state: String serialized_state: jsonb state_message: String
  state_start_time: timestamptz state_timestamp: timestamptz scheduled_start_time: timestamptz
  start_time: timestamptz end_time: timestamptz heartbeat: timestamptz agent_id: uuid
  created: timestamptz tenant_id: uuid idempotency_key: String
  ${list("states", "flow_run_state")}
  ${list("task_runs", "task_run")}
  ${list("logs", "log")}
}
type flow_run_state {
  id: uuid flow_run_id: uuid version: Int state: String message: String start_time: timestamptz
  timestamp: timestamptz created: timestamptz serialized_state: jsonb
}
type task_run_state {
  id: uuid task_run_id: uuid version: Int state: String message: String start_time: timestamptz
  timestamp: timestamptz created: timestamptz serialized_state: jsonb
}
type task_run {
  id: uuid flow_run_id: uuid flow_run: flow_run task_id: uuid task: task map_index: Int version: Int
  state: String serialized_state: jsonb state_start_time: timestamptz state_timestamp: timestamptz
  state_message: String start_time: timestamptz end_time: timestamptz heartbeat: timestamptz
  cache_key: String name: String created: timestamptz
  ${list("states", "task_run_state")}
}
type log {
  id: uuid flow_run_id: uuid task_run_id: uuid timestamp: timestamptz name: String level: String
  message: String info: jsonb
}

enum log_level { DEBUG INFO WARNING ERROR CRITICAL }

type Mutation {
  create_project(input: create_project_input!): project_id_payload
  create_flow_from_compressed_string(input: create_flow_from_compressed_string_input!): flow_id_payload
  create_flow(input: create_flow_input!): flow_id_payload
  register_tasks(input: register_tasks_input!): success_payload
  register_edges(input: register_edges_input!): success_payload
  create_flow_run(input: create_flow_run_input!): flow_run_id_payload
  register_agent(input: register_agent_input!): agent_id_payload
  get_runs_in_queue(input: get_runs_in_queue_input!): runs_in_queue_payload
  set_flow_run_states(input: set_flow_run_states_input!): set_flow_run_states_payload
  set_task_run_states(input: set_task_run_states_input!): set_task_run_states_payload
  cancel_flow_run(input: cancel_flow_run_input!): cancel_flow_run_payload
  get_or_create_task_run_info(input: get_or_create_task_run_info_input!): get_or_create_task_run_info_payload
  update_flow_run_heartbeat(input: update_flow_run_heartbeat_input!): success_payload
  update_task_run_heartbeat(input: update_task_run_heartbeat_input!): success_payload
  write_run_logs(input: write_run_logs_input!): success_payload
  set_flow_run_name(input: set_flow_run_name_input!): success_payload
  set_task_run_name(input: set_task_run_name_input!): success_payload
}

input create_project_input { tenant_id: UUID! name: String! description: String }
input create_flow_input {
  serialized_flow: JSON! project_id: UUID! version_group_id: String set_schedule_active: Boolean
  description: String idempotency_key: String
}
input create_flow_from_compressed_string_input {
  serialized_flow: String! project_id: UUID! version_group_id: String set_schedule_active: Boolean
  description: String idempotency_key: String
}
input register_tasks_input { flow_id: UUID! serialized_tasks: JSON! }
input register_edges_input { flow_id: UUID! serialized_edges: JSON! }
input create_flow_run_input {
  flow_id: UUID parameters: JSON labels: [String!] run_config: JSON context: JSON
  scheduled_start_time: DateTime idempotency_key: String flow_run_name: String version_group_id: String
}
input register_agent_input {
  tenant_id: UUID labels: [String!] agent_config_id: UUID type: String! name: String
}
input get_runs_in_queue_input { tenant_id: UUID! before: DateTime labels: [String!] }
input set_flow_run_state_input { flow_run_id: UUID! version: Int state: JSON! }
input set_flow_run_states_input { states: [set_flow_run_state_input!]! }
input set_task_run_state_input { task_run_id: UUID! version: Int state: JSON! flow_run_version: Int }
input set_task_run_states_input { states: [set_task_run_state_input!]! }
input cancel_flow_run_input { flow_run_id: UUID! }
input get_or_create_task_run_info_input { flow_run_id: UUID! task_id: UUID! map_index: Int }
input update_flow_run_heartbeat_input { flow_run_id: UUID! }
input update_task_run_heartbeat_input { task_run_id: UUID! }
input write_run_log_input {
  flow_run_id: UUID! task_run_id: UUID timestamp: DateTime name: String message: String level: log_level info: JSON
}
input write_run_logs_input { logs: [write_run_log_input!]! }
input set_flow_run_name_input { flow_run_id: UUID! name: String! }
input set_task_run_name_input { task_run_id: UUID! name: String! }

type success_payload { success: Boolean error: String }
type project_id_payload { id: UUID }
type flow_id_payload { id: UUID }
type flow_run_id_payload { id: UUID }
type agent_id_payload { id: UUID }
type runs_in_queue_payload { flow_run_ids: [String!] }
type set_flow_run_state_payload { id: UUID status: String message: String }
type set_flow_run_states_payload { states: [set_flow_run_state_payload!] }
type set_task_run_state_payload { id: UUID status: String message: String }
type set_task_run_states_payload { states: [set_task_run_state_payload!] }
type cancel_flow_run_payload { state: String }
type task_run_info_payload { id: UUID version: Int state: String serialized_state: JSON }
type get_or_create_task_run_info_payload { id: UUID version: Int state: String serialized_state: JSON }
`;

export const schema = buildSchema(SDL);
