// Regenerates src/prefect-api.d.ts from the OpenAPI schema of the pinned Prefect server:
// starts one as the execenv does (needs a build), fetches /api/openapi.json, keeps only the
// endpoints below and the components they reference, runs openapi-typescript.
// `--default-non-nullable false`: fields with a server default stay optional in request
// bodies, as the server treats them.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { findPrefect, PrefectServer, templateDatabase } from "../dist/index.js";

/** The endpoints the execenv and its tests call: a new call is one line here, then `pnpm generate:api`. */
const ENDPOINTS = [
  "POST /work_pools/",
  "POST /work_pools/{work_pool_name}/queues",
  "POST /work_pools/{work_pool_name}/workers/filter",
  "POST /flows/",
  "POST /deployments/",
  "GET /deployments/name/{flow_name}/{deployment_name}",
  "POST /deployments/{id}/create_flow_run",
  "GET /flow_runs/{id}",
  "POST /flow_runs/{id}/set_state",
  "GET /health",
  "GET /admin/version",
  "GET /work_pools/{name}",
  "DELETE /deployments/{id}",
];

/** Schemas the code names itself (`components["schemas"][...]`) that no endpoint above references. */
const SCHEMAS = ["FlowRun"];

/** The schema cut down to `endpoints`, `schemas` and every component they reference, directly or not. */
function filterSchema(schema, endpoints, schemas) {
  const paths = {};
  for (const endpoint of endpoints) {
    const [method, route] = endpoint.split(" ");
    const operation = schema.paths[route]?.[method.toLowerCase()];
    if (!operation) throw new Error(`${endpoint} is not in Prefect's OpenAPI schema`);
    paths[route] = { ...paths[route], [method.toLowerCase()]: operation };
  }
  const components = {};
  const pending = [paths, ...schemas.map((name) => ({ $ref: `#/components/schemas/${name}` }))];
  while (pending.length > 0) {
    const refs = JSON.stringify(pending.pop()).matchAll(/"\$ref":"#\/components\/(\w+)\/([^"]+)"/g);
    for (const [, kind, name] of refs) {
      components[kind] ??= {};
      if (components[kind][name]) continue;
      components[kind][name] = schema.components[kind][name];
      pending.push(components[kind][name]);
    }
  }
  return { ...schema, paths, components };
}

const here = path.dirname(new URL(import.meta.url).pathname);
const log = { info: console.log, warn: console.warn, debug: () => {} };
const signal = new AbortController().signal;
const install = await findPrefect(process.env.SIERRA_PREFECT_PYTHON, { log, signal });
const dir = mkdtempSync(path.join(tmpdir(), "prefect-openapi-"));
let started;
try {
  const server = await PrefectServer.start({
    python: install.python,
    dir,
    templateDatabase: await templateDatabase(install, { log }),
    executionId: `openapi-${process.pid}`,
    startTimeout: 300,
    signal,
    onStarted: (process) => {
      started = process;
    },
  });
  const schema = await (await fetch(`${server.apiUrl}/openapi.json`)).json();
  const file = path.join(dir, "openapi.json");
  writeFileSync(file, JSON.stringify(filterSchema(schema, ENDPOINTS, SCHEMAS)));
  const output = path.join(here, "../src/prefect-api.d.ts");
  execFileSync("openapi-typescript", [file, "--default-non-nullable", "false", "-o", output], {
    stdio: "inherit",
  });
  console.log(`Prefect ${install.version}: ${output}`);
} finally {
  await started?.stop();
}
