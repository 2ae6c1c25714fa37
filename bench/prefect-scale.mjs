// Per-run overhead of the Prefect execenvs at scale, side by side with xargs -P (what a user
// would run instead) on the same machine in one run: N x `true` at 2 jobs. The 20,000-run
// batch of prefect.localserver shows that runs reach the flow by reference (a runs file),
// not as flow-run parameters, which the server caps at 512 KiB (about 2,000 runs).
// Usage: node bench/prefect-scale.mjs [runs for prefect.localserver, default 20000] [--big-only]
//        (needs a build: npm run setup; provisions Prefect 3 and Prefect 1 once)
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { recordsSpan } from "./records.mjs";

const here = path.dirname(new URL(import.meta.url).pathname);
const work = path.join(here, ".work", "prefect-scale");
const sierra = path.join(here, "../apps/cli/dist/bin.js");
const JOBS = 2;
const BIG = Number(process.argv[2] ?? 20_000);
const BIG_ONLY = process.argv.includes("--big-only");

function batch(name, runs) {
  const root = path.join(work, name);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(path.join(root, "exp-inputs/exp0"), { recursive: true });
  writeFileSync(path.join(root, "exp-inputs/exp0/commands.txt"), "true\n".repeat(runs));
  return root;
}

/** Runs a command; resolves to its wall time, exit status and output. */
function run(file, args, options = {}) {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = spawn(file, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("exit", (code) =>
      resolve({ code, output, seconds: Number(process.hrtime.bigint() - start) / 1e9 }),
    );
  });
}

/** Wall time of the CLI, and the span from the first run's start to the last run's end. */
async function ours(execenv, runs) {
  const root = batch(`${execenv}-${runs}`, runs);
  const result = await run(
    process.execPath,
    [
      sierra,
      `--execenv=${execenv}`,
      "--batch-root",
      root,
      "--exec-jobs-per-node",
      String(JOBS),
      "--exec-devnull",
    ],
    { env: { ...process.env, CI: "1" } },
  );
  if (result.code !== 0) throw new Error(`${execenv} failed:\n${result.output.slice(-3000)}`);
  const recorded = recordsSpan(root);
  if (recorded.runs !== runs) throw new Error(`${execenv}: ${recorded.runs} records for ${runs} runs`);
  return { wall: result.seconds, span: recorded.seconds };
}

async function xargs(runs) {
  const root = batch(`xargs-${runs}`, runs);
  const result = await run("sh", [
    "-c",
    `xargs -P ${JOBS} -I{} bash -c {} < ${path.join(root, "exp-inputs/exp0/commands.txt")}`,
  ]);
  return { wall: result.seconds, span: result.seconds };
}

const ms = (seconds, runs) => `${((seconds * 1000) / runs).toFixed(2)} ms`;
const line = (what, runs, figures) =>
  console.log(
    `${what.padEnd(44)} wall ${figures.wall.toFixed(1).padStart(7)}s  span ${figures.span.toFixed(1).padStart(7)}s  per run: ${ms(figures.wall, runs)} wall, ${ms(figures.span, runs)} span`,
  );

console.log(
  `N x true at ${JOBS} jobs, --exec-devnull; load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`,
);
if (!BIG_ONLY) {
  const plain = await xargs(1000);
  line("xargs -P 2, 1,000 runs", 1000, plain);
  const local = await ours("prefect.localserver", 1000);
  line("prefect.localserver, 1,000 runs", 1000, local);
  const p1 = await ours("prefect1.localagent", 1000);
  line("prefect1.localagent, 1,000 runs", 1000, p1);
  console.log(
    `ratio of per-run span to xargs -P 2: prefect.localserver ${(local.span / plain.span).toFixed(1)}x, prefect1.localagent ${(p1.span / plain.span).toFixed(1)}x`,
  );
}
const big = await ours("prefect.localserver", BIG);
line(`prefect.localserver, ${BIG.toLocaleString("en")} runs`, BIG, big);
