// Stage 2 of SIERRA's own pipeline on the same batch, side by side: SIERRA's hpc.local (GNU
// parallel), SIERRA's prefectserver.local, and ours (local, prefect.localserver) through our
// SIERRA plugin set. Each execenv gets its own stage 1 (untimed) of the same batch, then
// `sierra ... --pipeline 2` is timed whole: every column includes SIERRA's own start-up.
// Usage: node bench/sierra.mjs [--experiments N] [--runs N] [--sleep S] [--repeat N] [--timeout S]
//   [--paradigm per-batch|per-exp] [--sierra-python PATH]
//   [--execenvs hpc.local,prefectserver.local,local,prefect.localserver]
// (needs a build: npm run setup). A stage 2 that takes longer than --timeout is reported
// as such and what it left running is killed.
//
// SIERRA's prefectserver.local needs `prefect` on PATH (the SIERRA environment has it),
// port 4200 free, and ends with `killall prefect`, which would stop every Prefect on the
// machine: here a `killall` first on PATH stops only the Prefect processes this bench
// started (they carry BENCH_MARKER in their environment). Its `prefect config set` goes to
// a PREFECT_HOME of the bench's own.
import { execFileSync, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
const cli = path.join(here, "../apps/cli/dist/bin.js");
const fixture = path.join(here, "../apps/cli/test/fixtures/sierra-project");
const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const EXPERIMENTS = Number(arg("--experiments", "4"));
const RUNS = Number(arg("--runs", "12"));
const PARADIGM = arg("--paradigm", "per-batch");
const SLEEP = arg("--sleep", "0.5");
const JOBS = 2;
const STAGE2_TIMEOUT_S = Number(arg("--timeout", "300"));

// SIERRA's environment, as our CLI provisions it (the same one the tests use), or another.
const { ensurePythonEnv } = await import(path.join(here, "../packages/core/dist/index.js"));
const { SIERRA_SPEC: spec } = await import(path.join(here, "../apps/cli/dist/index.js"));
const quiet = { info: () => {}, warn: console.log, debug: () => {} };
const given = arg("--sierra-python", undefined);
const venv = given ? { bin: path.dirname(given) } : await ensurePythonEnv(spec, { log: quiet });

const work = mkdtempSync(path.join(tmpdir(), "sierra-bench-"));
const marker = `bench-${randomUUID()}`;
const shims = path.join(work, "bin");
mkdirSync(shims);
writeFileSync(
  path.join(shims, "killall"),
  `#!/bin/sh
# stands in for SIERRA's 'killall prefect': only the Prefect processes of this bench
# (the prefect script's, not SIERRA's own, whose command line names prefectserver.local)
for p in $(grep -l -a "BENCH_MARKER=${marker}" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
  case "$(cat /proc/$p/cmdline 2>/dev/null | tr '\\0' ' ')" in */bin/prefect\\ *) kill "$p" 2>/dev/null;; esac
done
exit 0
`,
);
chmodSync(path.join(shims, "killall"), 0o755);
const pluginsDir = execFileSync(process.execPath, [cli, "sierra-plugins"], { encoding: "utf8" }).trim();
const env = {
  ...process.env,
  PATH: [shims, venv.bin, process.env.PATH].join(path.delimiter),
  SIERRA_PLUGIN_PATH: [path.join(fixture, "plugins"), pluginsDir].join(path.delimiter),
  PREFECT_HOME: path.join(work, "prefect-home"),
  BENCH_MARKER: marker,
  CSVSIM_SLEEP: SLEEP,
};

const common = (root, execenv) => [
  `--sierra-root=${root}`,
  "--project=sierra_exec_fixture.csvproject",
  "--engine=sierra_exec_fixture.csvsim",
  "--expdef=expdef.yaml",
  `--expdef-template=${path.join(fixture, "template.yaml")}`,
  `--n-runs=${RUNS}`,
  "--controller=demo.default",
  "--scenario=flat",
  `--batch-criteria=level.1.${EXPERIMENTS}`,
  `--execenv=${execenv}`,
  `--exec-parallelism-paradigm=${PARADIGM}`,
  `--exec-jobs-per-node=${JOBS}`,
];

/** Kills what this bench started and left behind (SIERRA's backgrounded Prefect). */
function killLeftovers() {
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, "latin1").includes(`BENCH_MARKER=${marker}`)) {
        process.kill(Number(pid), "SIGKILL");
      }
    } catch {
      // gone, or not ours to read
    }
  }
}

/** Seconds, or why there are none. */
function timed(args, timeoutS = 600) {
  const start = process.hrtime.bigint();
  const done = spawnSync(path.join(venv.bin, "sierra"), args, {
    env,
    encoding: "utf8",
    timeout: timeoutS * 1000,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (done.error?.code === "ETIMEDOUT" || (done.signal && seconds >= timeoutS)) {
    killLeftovers();
    return `did not finish in ${timeoutS} s`;
  }
  if (done.status !== 0) {
    killLeftovers();
    throw new Error(`sierra ${args.join(" ")} exited ${done.status}:\n${done.stderr.slice(-2000)}`);
  }
  return seconds;
}

const portFree = (port) =>
  new Promise((resolve) => {
    const server = net.createServer().once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });

const columns = [
  ["SIERRA hpc.local", "hpc.local"],
  ["SIERRA prefectserver.local", "prefectserver.local"],
  ["ours: local", "local"],
  ["ours: prefect.localserver", "prefect.localserver"],
];
const REPEAT = Number(arg("--repeat", "3"));
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const ready = [];
const results = [];
const only = arg("--execenvs", undefined)?.split(",");
for (const [label, execenv] of columns.filter(([, name]) => !only || only.includes(name))) {
  if (execenv === "prefectserver.local" && !(await portFree(4200))) {
    results.push([label, "skipped: port 4200 is taken on this machine"]);
    continue;
  }
  const root = path.join(work, execenv);
  timed([...common(root, execenv), "--pipeline", "1"]);
  ready.push([label, root, execenv, []]);
}
// Interleaved, so that a slow moment of the machine hits every execenv alike; an execenv
// that did not finish once is not run again.
for (let i = 0; i < REPEAT; i++) {
  for (const [label, root, execenv, times] of ready) {
    if (times.some((t) => typeof t === "string")) continue;
    times.push(timed([...common(root, execenv), "--pipeline", "2"], STAGE2_TIMEOUT_S));
    console.log(`${label}: ${times.at(-1)}`);
  }
}
for (const [label, , , times] of ready) {
  const failed = times.find((t) => typeof t === "string");
  results.push([label, failed ?? median(times)]);
}
killLeftovers();
rmSync(work, { recursive: true, force: true });

const total = EXPERIMENTS * RUNS;
const ideal = (total * Number(SLEEP)) / JOBS;
console.log(
  `\nSIERRA 1.5.16 stage 2 (sierra ... --pipeline 2), ${total} runs of ~${SLEEP}s, ${JOBS} jobs, ${PARADIGM}, median of ${REPEAT} (seconds)\n`,
);
for (const [label, value] of results) {
  console.log(`${label.padEnd(42)} ${typeof value === "number" ? value.toFixed(2) : value}`);
}
console.log(`${"ideal (runs x sleep / jobs)".padEnd(42)} ${ideal.toFixed(2)}`);
const hpc = results.find(([label]) => label === "SIERRA hpc.local")?.[1];
if (typeof hpc === "number") {
  console.log("\nratios to SIERRA hpc.local");
  for (const [label, value] of results.filter(([other]) => other !== "SIERRA hpc.local")) {
    if (typeof value === "number") console.log(`${label.padEnd(42)} ${(value / hpc).toFixed(2)}`);
  }
}
