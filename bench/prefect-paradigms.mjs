// Benchmark of prefect.localserver's two parallelism paradigms on SIERRA's sample-style batch
// (8 experiments x 8 runs of `sleep 0.3`, 2 jobs): per-exp must come within 1.2x of per-batch.
// With `--before BIN` (the bin.js of another build, e.g. main before the drain), both builds run
// side by side in one run, alternating, so that the machine's load falls on both alike.
// Usage: node bench/prefect-paradigms.mjs [--before path/to/apps/cli/dist/bin.js] [--rounds N]
//        (needs a build: npm run setup; provisions Prefect once)
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { ensurePythonEnv } from "../packages/core/dist/index.js";
import { PREFECT_SPEC } from "../packages/prefect3/dist/index.js";

const { values } = parseArgs({
  options: { before: { type: "string" }, rounds: { type: "string", default: "2" } },
});
const here = path.dirname(new URL(import.meta.url).pathname);
const work = path.join(here, ".work", "paradigms");
const builds = { after: path.join(here, "../apps/cli/dist/bin.js") };
if (values.before) builds.before = path.resolve(values.before);
const EXPERIMENTS = 8;
const RUNS = 8;
const JOBS = 2;
const log = { info: (line) => console.log(line), warn: (line) => console.log(line), debug: () => {} };
const env = await ensurePythonEnv(PREFECT_SPEC, { log });

function batch(name) {
  const root = path.join(work, name);
  rmSync(root, { recursive: true, force: true });
  for (let exp = 0; exp < EXPERIMENTS; exp++) {
    mkdirSync(path.join(root, "exp-inputs", `exp${exp}`), { recursive: true });
    writeFileSync(path.join(root, "exp-inputs", `exp${exp}`, "commands.txt"), "sleep 0.3\n".repeat(RUNS));
  }
  return root;
}

/** Runs the CLI; resolves to its wall time and the span from the first run's start to the last's end. */
function sierra(build, paradigm) {
  const bin = builds[build];
  const root = batch(`${build}-${paradigm}`);
  const args = [
    bin,
    "--execenv=prefect.localserver",
    "--batch-root",
    root,
    "--exec-jobs-per-node",
    String(JOBS),
  ];
  args.push("--exec-parallelism-paradigm", paradigm);
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, CI: "1", SIERRA_PREFECT_PYTHON: env.python },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("exit", (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code !== 0) return reject(new Error(`sierra exited ${code}:\n${stderr}`));
      const records = readFileSync(path.join(root, "statistics/exec/runs.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line));
      if (records.length !== EXPERIMENTS * RUNS) return reject(new Error(`${records.length} records`));
      const first = Math.min(...records.map((record) => Date.parse(record.startedAt)));
      const last = Math.max(...records.map((record) => Date.parse(record.finishedAt)));
      resolve({ seconds, span: (last - first) / 1000 });
    });
  });
}

const results = {};
for (let round = 1; round <= Number(values.rounds); round++) {
  for (const build of Object.keys(builds)) {
    for (const paradigm of ["per-batch", "per-exp"]) {
      const result = await sierra(build, paradigm);
      const key = `${build} ${paradigm}`;
      results[key] = [...(results[key] ?? []), result];
      console.log(
        `round ${round} ${build} ${paradigm}: ${result.seconds.toFixed(1)}s (runs span ${result.span.toFixed(1)}s)`,
      );
    }
  }
}

const median = (numbers) => {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
console.log(
  `\n${EXPERIMENTS} experiments x ${RUNS} runs of sleep 0.3, ${JOBS} jobs; medians of ${values.rounds} rounds`,
);
console.log(
  "| build | per-batch | per-exp | per-exp / per-batch | runs span per-batch | runs span per-exp |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const build of Object.keys(builds)) {
  const batchWall = median(results[`${build} per-batch`].map((r) => r.seconds));
  const expWall = median(results[`${build} per-exp`].map((r) => r.seconds));
  const batchSpan = median(results[`${build} per-batch`].map((r) => r.span));
  const expSpan = median(results[`${build} per-exp`].map((r) => r.span));
  console.log(
    `| ${build} | ${batchWall.toFixed(1)}s | ${expWall.toFixed(1)}s | ${(expWall / batchWall).toFixed(2)} | ${batchSpan.toFixed(1)}s | ${expSpan.toFixed(1)}s |`,
  );
}
