// The embedded Prefect 1 backend: an in-memory GraphQL server with the part of Prefect
// Server 1's API that the real Prefect 1.4.1 agent, flow runner and `flow.register()` use.
// It is not Server 1: no UI, no zombie killer or Lazarus, one batch, nothing persisted.
export { type Backend, startBackend } from "./server.js";
export type { Change, FlowRunRow, StateRow, Store, TaskRunRow } from "./store.js";
