// The embedded backend's data and Server 1's semantics where Prefect 1 relies on them
// (citations are to PrefectHQ/server): versions bumped on each state, run_config and labels
// copied onto flow runs, task runs created with their flow run, the Submitted lock, task
// runs refused Running unless their flow run is Running, cancellation cascading to task runs.
import { randomUUID } from "node:crypto";
import { isA, SCHEDULED_STATES, type SerializedState, serializedState } from "../states.js";
import { type ListArgs, type Row, select } from "./hasura.js";

interface Versioned extends Row {
  id: string;
  version: number;
  state: string | null;
  serialized_state: SerializedState | null;
  state_start_time: string | null;
  state_timestamp: string | null;
  state_message: string | null;
  start_time: string | null;
  end_time: string | null;
  heartbeat: string | null;
}

export interface FlowRow extends Row {
  id: string;
  tenant_id: string;
  project_id: string;
  name: string;
  version: number;
  version_group_id: string;
  archived: boolean;
  storage: unknown;
  run_config: { labels?: string[] } | null;
  environment: { labels?: string[] } | null;
  parameters: Array<{ name: string; default?: unknown; required?: boolean }>;
  settings: Record<string, boolean>;
}

export interface FlowRunRow extends Versioned {
  tenant_id: string;
  flow_id: string;
  name: string;
  labels: string[];
  run_config: unknown;
  idempotency_key: string | null;
}

export interface TaskRunRow extends Versioned {
  flow_run_id: string;
  task_id: string;
  map_index: number;
}

export interface StateRow extends Row {
  id: string;
  version: number;
  state: string;
  message: string | null;
  timestamp: string;
  start_time: string | null;
  serialized_state: SerializedState;
}

export interface TaskRow extends Row {
  id: string;
  flow_id: string;
  name: string;
  slug: string;
}

/** A flow as the client serializes it (`Flow.serialize()`). */
export interface FlowInput {
  name: string;
  storage?: unknown;
  run_config?: FlowRow["run_config"];
  environment?: FlowRow["environment"];
  parameters?: FlowRow["parameters"];
  tasks?: Array<{ name: string; slug: string; type?: string }>;
  __version__?: string;
}

/** What changed, for whoever follows runs without polling. */
export type Change = { flowRunId: string; taskRunId?: string; state: string };

const now = () => new Date().toISOString();
const toIso = (time: unknown) => (time == null ? null : new Date(String(time)).toISOString());
// api/states.py: Server 1 refuses a second Submitted for a run within 30 s.
const SUBMITTED_LOCK_MS = 30_000;
// The update_*_run_details_on_state_insert triggers set end_time on these.
const ENDING = new Set(["Success", "Failed", "Cached", "TimedOut", "Looped", "Cancelled"]);

export class StateUpdateError extends Error {}

export class Store {
  readonly tenant = { id: randomUUID(), name: "default", slug: "default" };
  readonly projects: Array<{ id: string; tenant_id: string; name: string; description: string | null }> = [];
  readonly flows: FlowRow[] = [];
  readonly tasks: TaskRow[] = [];
  readonly flowRuns: FlowRunRow[] = [];
  readonly taskRuns: TaskRunRow[] = [];
  readonly flowRunStates = new Map<string, StateRow[]>();
  readonly taskRunStates = new Map<string, StateRow[]>();
  readonly logs: Row[] = [];
  readonly agents: Row[] = [];
  private readonly submitted = new Map<string, number>();
  private readonly listeners: Array<(change: Change) => void> = [];

  /** Calls `listener` on every state change; returns the function that stops that. */
  onChange(listener: (change: Change) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners.splice(this.listeners.indexOf(listener), 1);
    };
  }

  createProject(input: { tenant_id: string; name: string; description?: string | null }): string {
    // The Hasura unique constraint; the client then looks the project up by name.
    if (this.projects.some((project) => project.name === input.name))
      throw new Error("Uniqueness violation.");
    const project = {
      id: randomUUID(),
      tenant_id: input.tenant_id,
      name: input.name,
      description: input.description ?? null,
    };
    this.projects.push(project);
    return project.id;
  }

  /** api/flows.py create_flow: versions within a version group, older versions archived. */
  createFlow(input: { project_id: string; version_group_id?: string | null }, serialized: FlowInput): string {
    const project = this.projects.find((candidate) => candidate.id === input.project_id);
    if (!project) throw new Error("Invalid project.");
    const previous = this.flows
      .filter((flow) => flow.project_id === project.id && flow.name === serialized.name)
      .at(-1);
    const group = input.version_group_id || previous?.version_group_id || randomUUID();
    const inGroup = this.flows.filter((flow) => flow.version_group_id === group);
    for (const flow of inGroup) flow.archived = true;
    const flow: FlowRow = {
      id: randomUUID(),
      tenant_id: project.tenant_id,
      project_id: project.id,
      name: serialized.name,
      version: Math.max(0, ...inGroup.map((other) => other.version)) + 1,
      version_group_id: group,
      flow_group_id: group,
      archived: false,
      storage: serialized.storage ?? null,
      run_config: serialized.run_config ?? null,
      environment: serialized.environment ?? null,
      parameters: serialized.parameters ?? [],
      core_version: serialized.__version__ ?? null,
      serialized_flow: serialized,
      settings: { heartbeat_enabled: true, lazarus_enabled: true, version_locking_enabled: false },
      created: now(),
    };
    this.flows.push(flow);
    this.registerTasks(flow.id, serialized.tasks ?? []);
    return flow.id;
  }

  /** Tasks get new ids here, unique per (flow, slug); the client never sends ids. */
  registerTasks(flowId: string, tasks: Array<{ name: string; slug: string; type?: string }>): void {
    for (const task of tasks) {
      if (this.tasks.some((other) => other.flow_id === flowId && other.slug === task.slug)) continue;
      this.tasks.push({
        id: randomUUID(),
        flow_id: flowId,
        name: task.name,
        slug: task.slug,
        type: task.type ?? null,
      });
    }
  }

  /** api/runs.py create_flow_run, and the trigger that inserts a task run per task. */
  createFlowRun(input: {
    flow_id?: string | null;
    version_group_id?: string | null;
    labels?: string[] | null;
    run_config?: { labels?: string[] } | null;
    parameters?: Record<string, unknown> | null;
    context?: Record<string, unknown> | null;
    scheduled_start_time?: string | null;
    idempotency_key?: string | null;
    flow_run_name?: string | null;
  }): string {
    const flow = input.flow_id
      ? this.flows.find((candidate) => candidate.id === input.flow_id)
      : this.flows.find(
          (candidate) => candidate.version_group_id === input.version_group_id && !candidate.archived,
        );
    if (!flow) throw new Error(`Flow ${input.flow_id ?? input.version_group_id} not found.`);
    if (flow.archived) throw new Error(`Flow ${flow.id} is archived.`);
    if (input.idempotency_key) {
      const existing = this.flowRuns.find(
        (run) => run.flow_id === flow.id && run.idempotency_key === input.idempotency_key,
      );
      if (existing) return existing.id;
    }
    const labels =
      input.labels ?? input.run_config?.labels ?? flow.run_config?.labels ?? flow.environment?.labels ?? [];
    const parameters: Record<string, unknown> = {};
    for (const parameter of flow.parameters)
      if (parameter.default) parameters[parameter.name] = parameter.default;
    Object.assign(parameters, input.parameters ?? {});
    const missing = flow.parameters.filter(
      (parameter) => parameter.required && !(parameter.name in parameters),
    );
    if (missing.length)
      throw new Error(`Required parameters were not supplied: ${missing.map((p) => p.name)}`);
    const start = toIso(input.scheduled_start_time) ?? now();
    const run: FlowRunRow = {
      ...this.unversioned(randomUUID()),
      tenant_id: flow.tenant_id,
      flow_id: flow.id,
      name: input.flow_run_name || `run-${this.flowRuns.length + 1}`,
      labels: [...labels].sort(),
      run_config: input.run_config ?? flow.run_config,
      parameters,
      context: input.context ?? {},
      scheduled_start_time: start,
      idempotency_key: input.idempotency_key ?? null,
      agent_id: null,
      created: now(),
    };
    this.flowRuns.push(run);
    this.flowRunStates.set(run.id, []);
    for (const task of this.tasks.filter((candidate) => candidate.flow_id === flow.id)) {
      this.createTaskRun(run.id, task.id, -1);
    }
    this.setFlowRunState(run.id, serializedState("Scheduled", "Flow run scheduled.", { start_time: start }));
    return run.id;
  }

  createTaskRun(flowRunId: string, taskId: string, mapIndex: number): TaskRunRow {
    const taskRun: TaskRunRow = {
      ...this.unversioned(randomUUID()),
      flow_run_id: flowRunId,
      task_id: taskId,
      map_index: mapIndex,
      name: null,
      created: now(),
    };
    this.taskRuns.push(taskRun);
    // The insert trigger writes this literal state, with version 0.
    const row = this.stateRow(0, { type: "Pending", message: "Task run created" });
    this.taskRunStates.set(taskRun.id, [row]);
    this.applyState(taskRun, row);
    return taskRun;
  }

  /** get_runs_in_queue: scheduled runs due before `before` whose labels the agent has. */
  runsInQueue(labels: string[], before: string | null | undefined, agentId?: string): string[] {
    const due = toIso(before) ?? now();
    const candidates = select(
      this.flowRuns.map((run) => ({
        ...run,
        task_runs: () => this.taskRuns.filter((t) => t.flow_run_id === run.id),
      })),
      {
        where: {
          _or: [
            { state: { _in: SCHEDULED_STATES }, state_start_time: { _lte: due } },
            {
              state: { _eq: "Running" },
              task_runs: { state: { _in: SCHEDULED_STATES }, state_start_time: { _lte: due } },
            },
          ],
        },
        order_by: { state_start_time: "asc" },
        limit: 75,
      },
    );
    const agent = this.agents.find((candidate) => candidate.id === agentId);
    if (agent) agent.last_queried = now();
    // api/runs.py: a run's labels must all be the agent's; unlabelled runs only go to unlabelled agents.
    return candidates
      .filter((run) => run.labels.every((label) => labels.includes(label)))
      .filter((run) => run.labels.length > 0 || labels.length === 0)
      .slice(0, 25)
      .map((run) => run.id);
  }

  setFlowRunState(flowRunId: string, state: SerializedState, agentId?: string): void {
    const run = this.flowRuns.find((candidate) => candidate.id === flowRunId);
    if (!run) throw new StateUpdateError(`State update failed for flow run ID ${flowRunId}`);
    if (state.type === "Submitted") {
      const until = this.submitted.get(run.id);
      if (until && until > Date.now()) {
        throw new StateUpdateError("State update failed: this run has already been submitted.");
      }
      this.submitted.set(run.id, Date.now() + SUBMITTED_LOCK_MS);
    }
    if (state.type === "Cancelled") {
      for (const taskRun of this.taskRuns) {
        if (taskRun.flow_run_id === run.id && !isA(taskRun.state, "Finished"))
          this.setTaskRunState(taskRun.id, state);
      }
    }
    const row = this.stateRow(run.version + 1, state);
    this.flowRunStates.get(run.id)?.push(row);
    this.applyState(run, row);
    if (isA(state.type, "Running") || state.type === "Submitted") run.heartbeat = now();
    if (state.type === "Submitted" && agentId && this.agents.some((agent) => agent.id === agentId))
      run.agent_id = agentId;
    this.emit({ flowRunId: run.id, state: state.type });
  }

  setTaskRunState(taskRunId: string, state: SerializedState): void {
    const taskRun = this.taskRuns.find((candidate) => candidate.id === taskRunId);
    if (!taskRun) throw new StateUpdateError(`State update failed for task run ID ${taskRunId}`);
    const flowRun = this.flowRuns.find((candidate) => candidate.id === taskRun.flow_run_id);
    // api/states.py: only the exact state Running lets tasks run (not Cancelling).
    if (isA(state.type, "Running") && flowRun?.state !== "Running") {
      throw new StateUpdateError(
        `State update failed for task run ID ${taskRunId}: provided a running state but associated flow run ${taskRun.flow_run_id} is not in a running state.`,
      );
    }
    const previousInputs = taskRun.serialized_state?.cached_inputs as Row | undefined;
    const inputs = state.cached_inputs as Row | undefined;
    if (
      (!inputs || Object.keys(inputs).length === 0) &&
      previousInputs &&
      Object.keys(previousInputs).length > 0
    ) {
      state = { ...state, cached_inputs: previousInputs };
    }
    const row = this.stateRow(taskRun.version + 1, state);
    this.taskRunStates.get(taskRun.id)?.push(row);
    this.applyState(taskRun, row);
    if (isA(state.type, "Running")) taskRun.heartbeat = now();
    this.emit({ flowRunId: taskRun.flow_run_id, taskRunId: taskRun.id, state: state.type });
  }

  /** api/states.py cancel_flow_run: Running becomes Cancelling, anything unfinished Cancelled. */
  cancelFlowRun(flowRunId: string): string | null {
    const run = this.flowRuns.find((candidate) => candidate.id === flowRunId);
    if (!run) throw new Error(`Invalid flow run ID: ${flowRunId}.`);
    if (!isA(run.state, "Finished")) {
      this.setFlowRunState(
        run.id,
        isA(run.state, "Running")
          ? serializedState("Cancelling", "Flow run is cancelling")
          : serializedState("Cancelled", "Flow run is cancelled"),
      );
    }
    return run.state;
  }

  getOrCreateTaskRun(flowRunId: string, taskId: string, mapIndex = -1): TaskRunRow {
    const existing = this.taskRuns.find(
      (run) => run.flow_run_id === flowRunId && run.task_id === taskId && run.map_index === mapIndex,
    );
    if (existing) return existing;
    if (!this.tasks.some((task) => task.id === taskId)) throw new Error("Invalid task ID");
    return this.createTaskRun(flowRunId, taskId, mapIndex);
  }

  // ---- views for GraphQL: rows with their relations as functions of list arguments

  flowView = (flow: FlowRow | undefined): Row | null =>
    flow
      ? {
          ...flow,
          project: () => this.projects.find((project) => project.id === flow.project_id),
          tasks: (args: ListArgs) =>
            select(this.tasks.filter((task) => task.flow_id === flow.id).map(this.taskView), args),
          flow_runs: (args: ListArgs) =>
            select(
              this.flowRuns.filter((run) => run.flow_id === flow.id).map(this.flowRunView) as Row[],
              args,
            ),
        }
      : null;

  projectView = (project: Store["projects"][number]): Row => ({
    ...project,
    flows: (args: ListArgs) =>
      select(this.flows.filter((flow) => flow.project_id === project.id).map(this.flowView) as Row[], args),
  });

  taskView = (task: TaskRow): Row => ({
    ...task,
    flow: () => this.flowView(this.flows.find((flow) => flow.id === task.flow_id)),
  });

  flowRunView = (run: FlowRunRow | undefined): Row | null =>
    run
      ? {
          ...run,
          flow: () => this.flowView(this.flows.find((flow) => flow.id === run.flow_id)),
          states: (args: ListArgs) => select(this.flowRunStates.get(run.id) ?? [], args),
          task_runs: (args: ListArgs) =>
            select(
              this.taskRuns
                .filter((taskRun) => taskRun.flow_run_id === run.id)
                .map(this.taskRunView) as Row[],
              args,
            ),
          logs: (args: ListArgs) =>
            select(
              this.logs.filter((log) => log.flow_run_id === run.id),
              args,
            ),
        }
      : null;

  taskRunView = (taskRun: TaskRunRow | undefined): Row | null =>
    taskRun
      ? {
          ...taskRun,
          task: () => this.taskView(this.tasks.find((task) => task.id === taskRun.task_id) as TaskRow),
          flow_run: () => this.flowRunView(this.flowRuns.find((run) => run.id === taskRun.flow_run_id)),
          states: (args: ListArgs) => select(this.taskRunStates.get(taskRun.id) ?? [], args),
        }
      : null;

  // ----

  private unversioned(id: string) {
    return {
      id,
      version: 0,
      state: null,
      serialized_state: null,
      state_start_time: null,
      state_timestamp: null,
      state_message: null,
      start_time: null,
      end_time: null,
      heartbeat: null,
    };
  }

  private stateRow(version: number, state: SerializedState): StateRow {
    return {
      id: randomUUID(),
      version,
      state: state.type,
      message: state.message ?? null,
      timestamp: now(),
      start_time: toIso(state.start_time),
      serialized_state: state,
      created: now(),
    };
  }

  /** The update_*_run_details_on_state_insert triggers: the newest version is the run's state. */
  private applyState(run: Versioned, row: StateRow): void {
    if (row.version < run.version) return;
    if (row.state === "Running" && (!run.start_time || row.timestamp < run.start_time))
      run.start_time = row.timestamp;
    if (ENDING.has(row.state) && (!run.end_time || row.timestamp > run.end_time))
      run.end_time = row.timestamp;
    Object.assign(run, {
      version: row.version,
      state: row.state,
      serialized_state: row.serialized_state,
      state_start_time: row.start_time,
      state_timestamp: row.timestamp,
      state_message: row.message,
    });
  }

  private emit(change: Change): void {
    for (const listener of this.listeners) listener(change);
  }
}
