// Benchmark of the local execenv against the tools users would use instead: xargs -P and
// GNU parallel (with --joblog --results, as it needs to keep what sierra keeps). All run
// side by side in this one process, each workload a few times; the median counts.
// Usage: node bench/local.mjs [--repeat N]   (needs a build: npm run setup)
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
const work = path.join(here, ".work");
const sierra = path.join(here, "../apps/cli/dist/bin.js");
const repeat = Number(process.argv[process.argv.indexOf("--repeat") + 1]) || 3;
const JOBS = 2;

const hasParallel = spawnSync("parallel", ["--version"], { stdio: "ignore" }).status === 0;
if (!hasParallel)
  console.log("GNU parallel not found (Debian: apt-get install parallel); its column is skipped");

function batch(name, command, count) {
  const root = path.join(work, name);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(path.join(root, "exp-inputs/exp0"), { recursive: true });
  const lines = `${Array(count).fill(command).join("\n")}\n`;
  writeFileSync(path.join(root, "exp-inputs/exp0/commands.txt"), lines);
  writeFileSync(path.join(root, "cmds"), lines);
  return root;
}

function seconds(file, args, input) {
  const start = process.hrtime.bigint();
  execFileSync(file, args, { stdio: ["pipe", "ignore", "ignore"], ...(input ? { input } : {}) });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

function measure(root) {
  const cmds = execFileSync("cat", [path.join(root, "cmds")]);
  const tools = {
    sierra: () =>
      seconds(process.execPath, [sierra, "--batch-root", root, "--exec-jobs-per-node", String(JOBS)]),
    "xargs -P2": () => seconds("xargs", ["-P", String(JOBS), "-d", "\n", "-n1", "bash", "-c"], cmds),
    ...(hasParallel && {
      "GNU parallel": () => {
        rmSync(path.join(root, "par"), { recursive: true, force: true });
        return seconds(
          "parallel",
          [
            "-j",
            String(JOBS),
            "--joblog",
            path.join(root, "par.joblog"),
            "--results",
            path.join(root, "par"),
          ],
          cmds,
        );
      },
    }),
  };
  const times = Object.fromEntries(Object.keys(tools).map((name) => [name, []]));
  // Interleaved, so that a slow moment of the machine hits every tool alike.
  for (let i = 0; i < repeat; i++) for (const [name, run] of Object.entries(tools)) times[name].push(run());
  return Object.fromEntries(Object.entries(times).map(([name, values]) => [name, median(values)]));
}

const rows = [];
const trues = measure(batch("true-1000", "true", 1000));
rows.push(["1000 x true", trues]);
const sleeps = measure(batch("sleep-100", "sleep 0.05", 100));
rows.push(["100 x sleep 0.05", sleeps]);
const ideal = (100 * 0.05) / JOBS;

console.log(`\nlocal execenv benchmark, ${JOBS} jobs, median of ${repeat} (seconds)\n`);
for (const [workload, times] of rows) {
  const cells = Object.entries(times).map(([name, t]) => `${name} ${t.toFixed(2)}`);
  console.log(`${workload.padEnd(18)} ${cells.join("   ")}`);
}
const ratio = (a, b) => (a / b).toFixed(2);
console.log("\nratios");
console.log(`1000 x true:      sierra / xargs = ${ratio(trues.sierra, trues["xargs -P2"])}  (target <= 1.5)`);
if (hasParallel) {
  console.log(
    `1000 x true:      sierra / GNU parallel = ${ratio(trues.sierra, trues["GNU parallel"])}  (target < 1)`,
  );
}
console.log(
  `100 x sleep 0.05: sierra / ideal ${ideal.toFixed(2)}s = ${ratio(sleeps.sierra, ideal)}  (target <= 1.25)`,
);
