// Per-run overhead of prefect.server on a shared Prefect 3 server with a worker on each of 3
// test hosts (the Prefect test cluster: network namespaces on a private bridge, basic auth),
// side by side in one run with prefect.localserver on this machine and xargs -P 2:
// 1,000 x `true` at 2 jobs (--exec-devnull). prefect.server runs 2 at once over all hosts
// (--total-jobs 2, the same parallelism as the others) and 2 on each host (6 at once).
// Usage: node bench/prefect-server.mjs   (Linux, root; needs a build: npm run setup)
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { findPrefect } from "../packages/prefect3/dist/index.js";
import { startPrefectTestCluster } from "../packages/prefect3/dist/test-cluster.js";
import { timedRun } from "./timed-run.mjs";

const here = path.dirname(new URL(import.meta.url).pathname);
const work = path.join(here, ".work", "prefect-server");
const cli = path.join(here, "../apps/cli/dist/bin.js");
const N = 1000;
const JOBS = 2;
const POOL = "bench-pool";

function batch(name) {
  const root = path.join(work, name);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(path.join(root, "exp-inputs/exp0"), { recursive: true });
  writeFileSync(path.join(root, "exp-inputs/exp0/commands.txt"), `${Array(N).fill("true").join("\n")}\n`);
  return root;
}

/** First run start to last run end, from the records; and the hosts that ran them. */
function span(root) {
  const records = readFileSync(path.join(root, "statistics/exec/runs.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map(JSON.parse);
  const first = Math.min(...records.map((record) => Date.parse(record.startedAt)));
  const last = Math.max(...records.map((record) => Date.parse(record.finishedAt)));
  return {
    runs: records.length,
    seconds: (last - first) / 1000,
    hosts: new Set(records.map((r) => r.host)).size,
  };
}

const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const log = { info: () => {}, warn: () => {}, debug: () => {} };
const { python } = await findPrefect(undefined, { log, signal: new AbortController().signal });
const cluster = await startPrefectTestCluster({ hosts: 3, python });
try {
  await Promise.all(cluster.hosts.map((host) => cluster.startWorker(host, { pool: POOL })));
  const server = [
    "--execenv=prefect.server",
    "--work-pool",
    POOL,
    "--exec-jobs-per-node",
    String(JOBS),
    "--exec-devnull",
  ];
  const serverEnv = { PREFECT_API_URL: cluster.apiUrl, PREFECT_API_AUTH_STRING: cluster.authString };
  const rows = [];
  const xargsRoot = batch("xargs");
  const xargs = await timedRun("sh", [
    "-c",
    `xargs -P ${JOBS} -I{} sh -c {} < ${xargsRoot}/exp-inputs/exp0/commands.txt`,
  ]);
  rows.push(["xargs -P 2", xargs.seconds, xargs.seconds, "1"]);
  for (const [label, args, env] of [
    [
      "prefect.localserver",
      ["--execenv=prefect.localserver", "--exec-jobs-per-node", String(JOBS), "--exec-devnull"],
      {},
    ],
    ["prefect.server, 3 hosts, --total-jobs 2", [...server, "--total-jobs", String(JOBS)], serverEnv],
    ["prefect.server, 3 hosts, 2 per host", server, serverEnv],
  ]) {
    const root = batch(label.replace(/\W+/g, "-"));
    const result = await timedRun(process.execPath, [cli, "--batch-root", root, ...args], env);
    if (result.code !== 0) throw new Error(`${label} failed:\n${result.output.slice(-3000)}`);
    const measured = span(root);
    if (measured.runs !== N) throw new Error(`${label}: ${measured.runs} records, not ${N}`);
    rows.push([label, result.seconds, measured.seconds, String(measured.hosts)]);
  }
  console.log(`# prefect.server overhead, ${new Date().toISOString()}, load ${load()}\n`);
  console.log(`${N} x \`true\` at ${JOBS} jobs, --exec-devnull, one run of this script\n`);
  console.log("| what | wall | span (first start to last end) | per run (span) | span / xargs | hosts |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const [label, wall, spanSeconds, hosts] of rows) {
    const ms = ((spanSeconds * 1000) / N).toFixed(2);
    console.log(
      `| ${label} | ${wall.toFixed(2)} s | ${spanSeconds.toFixed(2)} s | ${ms} ms | ${(spanSeconds / xargs.seconds).toFixed(1)} | ${hosts} |`,
    );
  }
  console.log(`\nload ${load()}`);
} finally {
  await cluster.stop();
}
