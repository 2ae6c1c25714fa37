// Benchmark of the prefect1.localagent execenv on the real Prefect 1.4.1 agent: pickup
// latency (flow run created to its first task Running, with and without the agent poke),
// per-task overhead on 100 x `true`, and the makespan of 12 x `sleep 1` at 3 jobs against
// the ideal 4 s. Batches run through the core against an embedded backend this script
// owns, so that the backend's state timestamps can be read afterwards.
// Usage: node bench/prefect1.mjs [--repeat N]   (needs a build: npm run setup)
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { coreOptionsSchema, executeBatch, parseOptions, planBatch } from "../packages/core/dist/index.js";
import { startBackend } from "../packages/execenv-prefect1-agent/dist/backend/index.js";
import prefect1, { prefect1OptionsSchema } from "../packages/execenv-prefect1-agent/dist/index.js";

const here = path.dirname(new URL(import.meta.url).pathname);
const work = path.join(here, ".work");
const repeat = Number(process.argv[process.argv.indexOf("--repeat") + 1]) || 3;
const quiet = { info: () => {}, warn: console.warn, debug: () => {} };

function batch(name, command, count) {
  const root = path.join(work, name);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(path.join(root, "exp-inputs/exp0"), { recursive: true });
  writeFileSync(
    path.join(root, "exp-inputs/exp0/commands.txt"),
    `${Array(count).fill(command).join("\n")}\n`,
  );
  return root;
}

/** Runs one batch; returns the wall time and the backend's view of its flow run. */
async function run(root, jobs, options = {}) {
  const backend = await startBackend();
  try {
    const core = parseOptions(
      coreOptionsSchema,
      { batchRoot: root, execJobsPerNode: jobs, execenv: prefect1.name },
      {},
    );
    const started = Date.now();
    const result = await executeBatch({
      plan: planBatch(core),
      execenv: prefect1,
      options: parseOptions(prefect1OptionsSchema, { prefect1Api: backend.url, ...options }, {}),
      core,
      log: quiet,
      handleSignals: false,
    });
    const wall = (Date.now() - started) / 1000;
    if (result.exitCode !== 0) throw new Error(`batch ${root} exited ${result.exitCode}`);
    const { store } = backend;
    const [flowRun] = store.flowRuns;
    const at = (rows, state) => Date.parse(rows.find((row) => row.state === state).timestamp);
    const taskRows = store.taskRuns.map((taskRun) => store.taskRunStates.get(taskRun.id));
    const created = at(store.flowRunStates.get(flowRun.id), "Scheduled");
    const firstTask = Math.min(...taskRows.map((rows) => at(rows, "Running")));
    const lastEnd = Math.max(...taskRows.map((rows) => at(rows, "Success")));
    return { wall, pickup: (firstTask - created) / 1000, span: (lastEnd - firstTask) / 1000 };
  } finally {
    await backend.close();
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const samples = async (make) => {
  const out = [];
  for (let i = 0; i < repeat; i++) out.push(await make());
  return out;
};
const show = (values) => `${median(values).toFixed(2)} s  (${values.map((v) => v.toFixed(2)).join(", ")})`;

const one = batch("p1-one", "true", 1);
const poked = await samples(() => run(one, 1));
const polled = await samples(() => run(one, 1, { pollOnly: true }));
const trues = await samples(() => run(batch("p1-true-100", "true", 100), 1));
const sleeps = await samples(() => run(batch("p1-sleep-12", "sleep 1", 12), 3));

const rows = [
  ["pickup, created -> first task Running, with poke", show(poked.map((r) => r.pickup))],
  ["pickup, without poke (--poll-only)", show(polled.map((r) => r.pickup))],
  ["100 x true, 1 job: per task (task span / 100)", show(trues.map((r) => r.span / 100))],
  ["100 x true, 1 job: whole batch", show(trues.map((r) => r.wall))],
  ["12 x sleep 1, 3 jobs: makespan of the tasks (ideal 4 s)", show(sleeps.map((r) => r.span))],
  ["12 x sleep 1, 3 jobs: whole batch", show(sleeps.map((r) => r.wall))],
  ["1 x true: whole batch (fixed cost)", show(poked.map((r) => r.wall))],
];
console.log(`\nprefect1.localagent benchmark, median of ${repeat} (samples in brackets)\n`);
const width = Math.max(...rows.map(([label]) => label.length));
for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`);
