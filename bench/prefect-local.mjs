// Benchmark of the prefect.localserver execenv against what SIERRA users run today: SIERRA's
// prefectserver.local shell sequence (bench/prefect/sierra-sequence.sh) and a plain Prefect
// Python flow with .map, all on the same pinned Prefect, side by side in one run.
// Usage: node bench/prefect-local.mjs   (needs a build: npm run setup; provisions Prefect once)
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { ensurePythonEnv, stopMarkedProcesses, stopProcessGroup } from "../packages/core/dist/index.js";
import { maxOverlap, readInterval } from "../packages/execenv-testkit/dist/index.js";
import { PREFECT_SPEC, PREFECT_VERSION } from "../packages/prefect3/dist/index.js";

const here = path.dirname(new URL(import.meta.url).pathname);
const work = path.join(here, ".work", "prefect");
const sierra = path.join(here, "../apps/cli/dist/bin.js");
const JOBS = 4;
const SLEEPS = 24;
const IDEAL = SLEEPS / JOBS;
const log = { info: (line) => console.log(line), warn: (line) => console.log(line), debug: () => {} };
const env = await ensurePythonEnv(PREFECT_SPEC, { log });

const timed = (command) => `date +%s%N; ${command}; date +%s%N`;

function batch(name, commands) {
  const root = path.join(work, name);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(path.join(root, "exp-inputs/exp0"), { recursive: true });
  writeFileSync(path.join(root, "exp-inputs/exp0/commands.txt"), `${commands.join("\n")}\n`);
  return root;
}

/** Runs a command in its own process group; resolves to its wall time and output. */
function run(file, args, options = {}) {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = spawn(file, args, { ...options, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("exit", (code) =>
      resolve({ code, pgid: child.pid, output, seconds: Number(process.hrtime.bigint() - start) / 1e9 }),
    );
  });
}

/** Largest number of runs at once, from the start/end nanoseconds each run printed. */
const overlap = (files) => maxOverlap(files.map((file) => readInterval(file)));

/** A port free on the loopback now: SIERRA's fixed 4200 would collide with other batches. */
const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const withoutPrefect = () =>
  Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("PREFECT_")));

const figure = (output, pattern) => Number(pattern.exec(output)?.[1] ?? Number.NaN);

async function ours() {
  const cli = (root, extra = []) =>
    run(
      process.execPath,
      [sierra, "--execenv=prefect.localserver", "--batch-root", root, "--verbose", ...extra],
      {
        env: { ...process.env, CI: "1", SIERRA_PREFECT_PYTHON: env.python },
      },
    );
  const sleeps = batch("ours-sleep", Array(SLEEPS).fill(timed("sleep 1")));
  const a = await cli(sleeps, ["--exec-jobs-per-node", String(JOBS)]);
  if (a.code !== 0) throw new Error(`sierra failed:\n${a.output}`);
  const trues = batch("ours-true", Array(200).fill("true"));
  const b = await cli(trues, ["--exec-jobs-per-node", String(JOBS)]);
  if (b.code !== 0) throw new Error(`sierra failed:\n${b.output}`);
  const records = readFileSync(path.join(trues, "statistics/exec/runs.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  const first = Math.min(...records.map((r) => Date.parse(r.startedAt)));
  const last = Math.max(...records.map((r) => Date.parse(r.finishedAt)));
  const dir = (root) => path.join(root, "scratch/exp0");
  return {
    start: figure(a.output, /server ready in ([\d.]+)s/),
    setup: figure(a.output, /set up over the API(?: and started the worker)? in ([\d.]+)s/),
    pickup: figure(a.output, /first run started ([\d.]+)s after/),
    perTask: (last - first) / 200,
    makespan: a.seconds,
    concurrency: overlap(readdirSync(dir(sleeps)).map((run) => path.join(dir(sleeps), run, "stdout"))),
  };
}

async function sierraSequence() {
  const root = batch("sierra-seq", Array(SLEEPS).fill(timed("sleep 1")));
  const input = path.join(root, "exp-inputs/exp0");
  const scratch = path.join(root, "scratch/exp0");
  const dir = path.join(root, "prefect");
  mkdirSync(path.join(dir, "home"), { recursive: true });
  copyFileSync(path.join(here, "prefect/sierra_flow.py"), path.join(dir, "sierra_flow.py"));
  const port = await freePort();
  const marker = `bench-${process.pid}-${Date.now()}`;
  const script = path.join(here, "prefect/sierra-sequence.sh");
  const start = process.hrtime.bigint();
  const result = await run("bash", [script, env.bin, dir, String(port), input, scratch, String(JOBS)], {
    env: { ...withoutPrefect(), SIERRA_BENCH_MARK: marker },
  });
  await stopProcessGroup(result.pgid, { graceMs: 10_000 });
  await stopMarkedProcesses("SIERRA_BENCH_MARK", marker);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const stdouts = readdirSync(scratch).filter((f) => f.endsWith(".stdout"));
  if (stdouts.length !== SLEEPS)
    throw new Error(`SIERRA's sequence ran ${stdouts.length} runs:\n${result.output}`);
  return {
    makespan: seconds,
    concurrency: overlap(stdouts.map((f) => path.join(scratch, f))),
    watchEnded: result.seconds,
  };
}

async function plainFlow() {
  const root = path.join(work, "plain-map");
  const out = path.join(root, "out");
  rmSync(root, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const commands = Array.from({ length: SLEEPS }, (_, i) => `{ ${timed("sleep 1")}; } > ${out}/run${i}`);
  writeFileSync(path.join(root, "cmds"), `${commands.join("\n")}\n`);
  const script = path.join(here, "prefect/plain_map_flow.py");
  const result = await run(env.python, [script, path.join(root, "cmds"), String(JOBS)], {
    env: { ...withoutPrefect(), PREFECT_HOME: path.join(root, "home"), DO_NOT_TRACK: "1" },
  });
  await stopProcessGroup(result.pgid, { graceMs: 5000 });
  if (result.code !== 0) throw new Error(`the plain flow failed:\n${result.output}`);
  return { makespan: result.seconds, concurrency: overlap(readdirSync(out).map((f) => path.join(out, f))) };
}

console.log(
  `Prefect ${PREFECT_VERSION}, ${SLEEPS} x sleep 1 at ${JOBS} jobs (ideal ${IDEAL}s); load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`,
);
const s = (x) => `${x.toFixed(2)}s`;
const a = await ours();
console.log(`
prefect.localserver (sierra-exec)
  server start to ready (template database)   ${s(a.start)}
  set-up over the API (worker boots beside)   ${s(a.setup)}
  pickup: flow run created -> first run       ${s(a.pickup)}
  per-task overhead, 200 x true at ${JOBS} jobs     ${a.perTask.toFixed(1)} ms wall per task (x${JOBS} per slot)
  makespan, whole CLI                         ${s(a.makespan)}  overhead ${s(a.makespan - IDEAL)}  concurrency ${a.concurrency}`);
const b = await sierraSequence();
console.log(`SIERRA's prefectserver.local sequence
  makespan, whole sequence + clean-up         ${s(b.makespan)}  overhead ${s(b.makespan - IDEAL)}  concurrency ${b.concurrency}`);
const c = await plainFlow();
console.log(`plain Prefect flow with .map (temporary server)
  makespan                                    ${s(c.makespan)}  overhead ${s(c.makespan - IDEAL)}  concurrency ${c.concurrency}

overhead ratio ours / SIERRA's: ${((a.makespan - IDEAL) / (b.makespan - IDEAL)).toFixed(2)} (target <= 0.5); concurrency ${a.concurrency} (target ${JOBS})`);
