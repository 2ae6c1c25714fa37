// Regenerates src/prefect-api.d.ts from the OpenAPI schema of the pinned Prefect server:
// starts one as the execenv does (needs a build), fetches /api/openapi.json, runs
// openapi-typescript. `--default-non-nullable false`: fields with a server default stay
// optional in request bodies, as the server treats them.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { findPrefect, PrefectServer, templateDatabase } from "../dist/index.js";

const here = path.dirname(new URL(import.meta.url).pathname);
const log = { info: console.log, warn: console.warn, debug: () => {} };
const signal = new AbortController().signal;
const install = await findPrefect(process.env.SIERRA_PREFECT_PYTHON, { log, signal });
const dir = mkdtempSync(path.join(tmpdir(), "prefect-openapi-"));
let started;
try {
  const server = await PrefectServer.start(
    {
      python: install.python,
      dir,
      templateDatabase: await templateDatabase(install, { log }),
      executionId: `openapi-${process.pid}`,
      startTimeout: 300,
      signal,
    },
    (process) => {
      started = process;
    },
  );
  const schema = await (await fetch(`${server.apiUrl}/openapi.json`)).text();
  const file = path.join(dir, "openapi.json");
  writeFileSync(file, schema);
  const output = path.join(here, "../src/prefect-api.d.ts");
  execFileSync("openapi-typescript", [file, "--default-non-nullable", "false", "-o", output], {
    stdio: "inherit",
  });
  console.log(`Prefect ${install.version}: ${output}`);
} finally {
  await started?.stop();
}
