// Sets the batch's server up over its REST API: the process work pool, its queue, the flow
// `sierra` and the deployment `sierra/local` whose entrypoint is python/flow.py as shipped
// in this package. The payloads are plain functions, tested without a server.
import type { PrefectClient } from "./api.js";
import { must } from "./api.js";
import type { components } from "./prefect-api.js";
import baseJobTemplate from "./process-base-job-template.json" with { type: "json" };

/** The directory of the shipped flow file: the deployment runs it in place. */
export const FLOW_DIR = new URL("../python/", import.meta.url).pathname.replace(/\/$/, "");
export const FLOW_NAME = "sierra";
export const DEPLOYMENT_NAME = "local";

type WorkPoolCreate = components["schemas"]["WorkPoolCreate"];
type DeploymentCreate = components["schemas"]["DeploymentCreate"];

export const workPoolPayload = (name: string): WorkPoolCreate => ({
  name,
  type: "process",
  // What `prefect work-pool get-default-base-job-template --type process` prints (3.8.8 and 3.9.1 alike).
  base_job_template: baseJobTemplate,
  description: "sierra-exec: runs experiment batches",
});

/** The flow's parameters, as the UI shows them and the server validates them. */
export const PARAMETER_SCHEMA = {
  title: "Parameters",
  type: "object",
  properties: {
    work_dir: { title: "work_dir", type: "string", position: 0 },
    jobs: { title: "jobs", type: "integer", default: 1, position: 1 },
    kill_grace_s: { title: "kill_grace_s", type: "number", default: 5, position: 2 },
    strict: { title: "strict", type: "boolean", default: false, position: 3 },
    total_jobs: { title: "total_jobs", type: "integer", default: 0, position: 4 },
    execution_id: { title: "execution_id", type: "string", default: "", position: 5 },
  },
  required: ["work_dir"],
  definitions: {},
};

export function deploymentPayload({
  flowId,
  pool,
  queue,
  flowDir = FLOW_DIR,
  jobVariables = {},
}: {
  flowId: string;
  pool: string;
  /** Null: the pool's default queue, whatever it is called. */
  queue: string | null;
  flowDir?: string;
  /** For the workers that start its flow runs' engines (none on a batch's own server, engine.ts). */
  jobVariables?: Record<string, unknown>;
}): DeploymentCreate {
  return {
    name: DEPLOYMENT_NAME,
    flow_id: flowId,
    entrypoint: "flow.py:sierra",
    path: null,
    // Runs the flow file where it is; with `path` Prefect would copy the directory.
    pull_steps: [{ "prefect.deployments.steps.set_working_directory": { directory: flowDir } }],
    work_pool_name: pool,
    work_queue_name: queue,
    parameter_openapi_schema: PARAMETER_SCHEMA,
    enforce_parameter_schema: true,
    job_variables: jobVariables,
    paused: false,
  };
}

export interface Deployment {
  id: string;
}

export async function setUpDeployment(
  client: PrefectClient,
  settings: { pool: string; queue: string },
): Promise<Deployment> {
  const { pool, queue } = settings;
  must(await client.POST("/work_pools/", { body: workPoolPayload(pool) }), `creating work pool ${pool}`);
  must(
    await client.POST("/work_pools/{work_pool_name}/queues", {
      params: { path: { work_pool_name: pool } },
      body: { name: queue },
    }),
    `creating work queue ${queue}`,
  );
  const flow = must(await client.POST("/flows/", { body: { name: FLOW_NAME } }), "creating flow sierra");
  const deployment = must(
    await client.POST("/deployments/", { body: deploymentPayload({ ...settings, flowId: flow.id }) }),
    "creating deployment sierra/local",
  );
  return { id: deployment.id };
}
