// What a Prefect execenv costs on top of the runs, side by side in one run:
//  (a) the fixed cost of a one-run batch (`true`): wall time, and the server start, set-up
//      and pickup our CLI reports with --verbose; with --baseline, another build of the CLI
//      (e.g. main before a change) alternates with this one;
//  (b) SIERRA's sample-style batch, 8 experiments x 8 runs of `sleep 0.3` at 2 jobs,
//      per-exp vs per-batch;
//  (c) per-run overhead on 1,000 x `true` at 2 jobs (--exec-devnull) beside xargs -P 2;
//  (d) SIERRA 1.5.16's own prefectserver.local on the same shapes of batch, through SIERRA's
//      pipeline (stage 2 of its fixture project, bench/sierra.mjs), beside ours through it.
// Usage: node bench/prefect-overhead.mjs [--repeat N] [--execenv NAME]... [--args NAME=ARGS]...
//          [--baseline PATH/TO/bin.js] [--prefect-python PATH] [--parts abcd] [--sierra-repeat N]
// (needs a build: npm run setup; provisions Prefect and SIERRA once)
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { recordsSpan } from "./records.mjs";
import { timedRun } from "./timed-run.mjs";

const here = path.dirname(new URL(import.meta.url).pathname);
const work = path.join(here, ".work", "prefect-overhead");
const cli = path.join(here, "../apps/cli/dist/bin.js");
const JOBS = 2;

const argv = process.argv.slice(2);
const all = (name) => argv.flatMap((value, i) => (argv[i - 1] === name ? [value] : []));
const one = (name, fallback) => all(name).at(-1) ?? fallback;

/**
 * The execenvs measured and the extra arguments each needs. An execenv that needs a server
 * of the user's (prefect.server) joins with `--execenv prefect.server --args
 * "prefect.server=--prefect-api-url http://HOST:4200/api"`, or with an entry here.
 */
const EXECENVS = { "prefect.localserver": [], local: [] };
for (const spec of all("--args")) {
  const [name, ...rest] = spec.split("=");
  EXECENVS[name] = rest.join("=").split(" ").filter(Boolean);
}
const chosen = all("--execenv").length > 0 ? all("--execenv") : ["prefect.localserver", "local"];
const REPEAT = Number(one("--repeat", "3"));
const SIERRA_REPEAT = one("--sierra-repeat", "1");
const PARTS = one("--parts", "abcd");
const baseline = one("--baseline", undefined);
const prefectPython = one("--prefect-python", undefined);

/** A batch root with `experiments` experiments of these commands each. */
function batch(name, experiments, commands) {
  const root = path.join(work, name);
  rmSync(root, { recursive: true, force: true });
  for (let i = 0; i < experiments; i++) {
    mkdirSync(path.join(root, `exp-inputs/exp${i}`), { recursive: true });
    writeFileSync(path.join(root, `exp-inputs/exp${i}/commands.txt`), `${commands.join("\n")}\n`);
  }
  return root;
}

const figure = (output, pattern) => Number(pattern.exec(output)?.[1] ?? Number.NaN);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const s = (seconds) => (Number.isNaN(seconds) ? "-" : `${seconds.toFixed(2)} s`);
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** Our CLI (or another build of it) on a batch; throws with its output if it fails. */
async function ours(bin, execenv, root, extra = []) {
  const args = [bin, `--execenv=${execenv}`, "--batch-root", root, ...(EXECENVS[execenv] ?? []), ...extra];
  const result = await timedRun(process.execPath, args);
  if (result.code !== 0) throw new Error(`${execenv} failed:\n${result.output.slice(-3000)}`);
  return result;
}

console.log(`# Prefect overhead, ${new Date().toISOString()}, load ${load()}\n`);

if (PARTS.includes("a")) {
  // Each column: a label, a CLI build, an execenv and its extra arguments; run interleaved.
  const columns = chosen.map((execenv) => [execenv, cli, execenv, []]);
  if (prefectPython && chosen.includes("prefect.localserver")) {
    columns.push([
      `prefect.localserver, --prefect-python ${prefectPython}`,
      cli,
      "prefect.localserver",
      ["--prefect-python", prefectPython],
    ]);
  }
  if (baseline) {
    columns.push([`prefect.localserver, baseline ${baseline}`, baseline, "prefect.localserver", []]);
  }
  const results = new Map(columns.map(([label]) => [label, []]));
  for (let i = 0; i < REPEAT; i++) {
    for (const [label, bin, execenv, extra] of columns) {
      const root = batch("one-run", 1, ["true"]);
      const result = await ours(bin, execenv, root, ["--verbose", ...extra]);
      results.get(label).push({
        wall: result.seconds,
        start: figure(result.output, /server ready in ([\d.]+)s/),
        setup: figure(result.output, /set up over the API(?: and started the worker)? in ([\d.]+)s/),
        pickup: figure(result.output, /first run started ([\d.]+)s after/),
      });
    }
  }
  console.log(`## (a) fixed cost of a one-run batch (\`true\`), median of ${REPEAT}\n`);
  console.log("| execenv | wall | server ready | set-up | flow run created -> first run |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const [label, rows] of results) {
    const m = (key) => median(rows.map((row) => row[key]));
    console.log(`| ${label} | ${s(m("wall"))} | ${s(m("start"))} | ${s(m("setup"))} | ${s(m("pickup"))} |`);
  }
  console.log(`\nload ${load()}\n`);
}

if (PARTS.includes("b")) {
  const sample = Array(8).fill("sleep 0.3");
  console.log(
    `## (b) 8 experiments x 8 runs of \`sleep 0.3\` at ${JOBS} jobs (ideal ${((64 * 0.3) / JOBS).toFixed(1)} s)\n`,
  );
  console.log("| execenv | per-exp | per-batch | per-exp / per-batch |");
  console.log("| --- | --- | --- | --- |");
  for (const execenv of chosen) {
    const wall = {};
    for (const paradigm of ["per-exp", "per-batch"]) {
      const root = batch(`sample-${execenv}-${paradigm}`, 8, sample);
      const args = ["--exec-jobs-per-node", String(JOBS), "--exec-parallelism-paradigm", paradigm];
      wall[paradigm] = (await ours(cli, execenv, root, args)).seconds;
    }
    const ratio = wall["per-exp"] / wall["per-batch"];
    console.log(`| ${execenv} | ${s(wall["per-exp"])} | ${s(wall["per-batch"])} | ${ratio.toFixed(2)} |`);
  }
  console.log(`\nload ${load()}\n`);
}

if (PARTS.includes("c")) {
  const N = 1000;
  const trues = Array(N).fill("true");
  const root = batch("xargs", 1, trues);
  const xargs = await timedRun("sh", [
    "-c",
    `xargs -P ${JOBS} -I{} sh -c {} < ${root}/exp-inputs/exp0/commands.txt`,
  ]);
  const ms = (seconds) => `${((seconds * 1000) / N).toFixed(2)} ms`;
  console.log(`## (c) ${N} x \`true\` at ${JOBS} jobs, --exec-devnull\n`);
  console.log("| what | wall | span (first start to last end) | per run (span) | span / xargs |");
  console.log("| --- | --- | --- | --- | --- |");
  console.log(
    `| xargs -P ${JOBS} | ${s(xargs.seconds)} | ${s(xargs.seconds)} | ${ms(xargs.seconds)} | 1.0 |`,
  );
  for (const execenv of chosen) {
    const dir = batch(`trues-${execenv}`, 1, trues);
    const result = await ours(cli, execenv, dir, ["--exec-jobs-per-node", String(JOBS), "--exec-devnull"]);
    const measured = recordsSpan(dir);
    if (measured.runs !== N) throw new Error(`${execenv}: ${measured.runs} records for ${N} runs`);
    console.log(
      `| ${execenv} | ${s(result.seconds)} | ${s(measured.seconds)} | ${ms(measured.seconds)} | ${(measured.seconds / xargs.seconds).toFixed(1)} |`,
    );
  }
  console.log(`\nload ${load()}\n`);
}

if (PARTS.includes("d")) {
  // SIERRA's stage 2 on its fixture project: level.1.N gives N experiments.
  const shapes = [
    [
      "one run (1 experiment x 1 run, no sleep)",
      ["--experiments", "1", "--runs", "1", "--sleep", "0"],
      ["per-batch"],
    ],
    [
      "8 experiments x 8 runs of 0.3 s",
      ["--experiments", "8", "--runs", "8", "--sleep", "0.3"],
      ["per-exp", "per-batch"],
    ],
  ];
  // SIERRA 1.5.16's prefectserver.local has no per-exp ("does not implement ExpShellCmdsGenerator").
  const execenvsFor = (paradigm) =>
    [...(paradigm === "per-exp" ? [] : ["prefectserver.local"]), ...chosen].join(",");
  console.log(
    "## (d) SIERRA 1.5.16 stage 2 (`sierra ... --pipeline 2`, SIERRA's start-up included), median\n",
  );
  for (const [label, shape, paradigms] of shapes) {
    for (const paradigm of paradigms) {
      const args = [
        path.join(here, "sierra.mjs"),
        ...shape,
        "--paradigm",
        paradigm,
        "--repeat",
        SIERRA_REPEAT,
      ];
      const result = await timedRun(process.execPath, [...args, "--execenvs", execenvsFor(paradigm)]);
      if (result.code !== 0) throw new Error(`bench/sierra.mjs failed:\n${result.output.slice(-3000)}`);
      const table = result.output.slice(result.output.indexOf("\nSIERRA 1.5.16")).trim();
      console.log(`### ${label}, ${paradigm}\n\n\`\`\`\n${table}\n\`\`\`\n`);
    }
  }
  console.log(`load ${load()}`);
}
