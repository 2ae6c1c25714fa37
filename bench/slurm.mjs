// Benchmark of the slurm execenv on a real 3-node Slurm cluster on this machine (2 CPUs a
// node), side by side in one run with what cluster users run today: a plain job array
// (`sbatch --array=...%6 --wait`) and, inside an allocation, GNU parallel over the
// allocation's nodes by ssh (SIERRA's hpc.slurm), through a private sshd on loopback.
// 60 x `sleep 1` on 3 nodes x 2 jobs (ideal 10 s), then 300 x `true` for the per-run cost.
// Usage: node bench/slurm.mjs   (needs a build: npm run setup; Slurm, munge, sshd, parallel)
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startTestCluster } from "../packages/execenv-slurm/dist/test-cluster.js";
import { maxOverlap } from "../packages/execenv-testkit/dist/index.js";

const here = path.dirname(new URL(import.meta.url).pathname);
const work = path.join(here, ".work", "slurm");
const sierra = path.join(here, "../apps/cli/dist/bin.js");
const NODES = 3;
const PER_NODE = 2;
const SLOTS = NODES * PER_NODE;

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const cluster = await startTestCluster({ nodes: NODES, cpus: PER_NODE, parent: work });
const env = { ...process.env, ...cluster.env };
delete env.SLURM_JOB_ID;

/** Runs a command; resolves to its wall time and output. */
function run(file, args, options = {}) {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = spawn(file, args, { env, ...options, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("exit", (code) =>
      resolve({ code, output, seconds: Number(process.hrtime.bigint() - start) / 1e9 }),
    );
  });
}

/** A batch whose run i writes its start and end (ns) to <out>/t-i around `command`. */
function batch(name, count, command) {
  const root = path.join(work, name);
  const out = path.join(root, "out");
  mkdirSync(path.join(root, "exp-inputs/exp0"), { recursive: true });
  mkdirSync(out);
  const lines = Array.from(
    { length: count },
    (_, i) => `{ date +%s%N; ${command}; date +%s%N; } > ${out}/t-${i}`,
  );
  const cmdfile = path.join(root, "exp-inputs/exp0/commands.txt");
  writeFileSync(cmdfile, `${lines.join("\n")}\n`);
  return { root, out, cmdfile };
}

/** Makespan (first start to last end) and largest overlap, from the runs' own clocks. */
function measured(out, count) {
  const intervals = readdirSync(out).map((name) =>
    readFileSync(path.join(out, name), "utf8").trim().split("\n").map(Number),
  );
  if (intervals.length !== count) throw new Error(`${out}: ${intervals.length} of ${count} runs wrote times`);
  const makespan =
    (Math.max(...intervals.map(([, end]) => end)) - Math.min(...intervals.map(([s]) => s))) / 1e9;
  return { makespan, overlap: maxOverlap(intervals.map(([s, e]) => [s / 1e6, e / 1e6])) };
}

/** The command line a cluster user types, in either mode. */
const ours = (b) => [
  sierra,
  "--execenv=slurm",
  "--batch-root",
  b.root,
  "--exec-jobs-per-node",
  String(PER_NODE),
];

const methods = {
  async "sierra slurm, outside an allocation (job arrays)"(b) {
    return run(process.execPath, ours(b));
  },
  async "sierra slurm, inside an allocation (steps)"(b) {
    return run("salloc", [`--nodes=${NODES}`, "--exclusive", process.execPath, ...ours(b)]);
  },
  async "plain sbatch --array=...%6 --wait"(b) {
    const script = path.join(b.root, "array.sh");
    writeFileSync(script, `#!/bin/bash\nsed -n "$((SLURM_ARRAY_TASK_ID + 1))p" ${b.cmdfile} | bash\n`);
    const count = readFileSync(b.cmdfile, "utf8").trim().split("\n").length;
    return run("sbatch", ["--wait", `--array=0-${count - 1}%${SLOTS}`, "--output=/dev/null", script]);
  },
};

// GNU parallel over the allocation's nodes by ssh, as SIERRA's hpc.slurm does: a private
// sshd on a free loopback port, each node reached as its own loopback address.
const ssh = await startSshd().catch((error) => ({ error: error.message }));
if (ssh.error) {
  console.log(`GNU parallel over ssh left out: ${ssh.error}`);
} else {
  methods["GNU parallel --sshloginfile, inside an allocation (SIERRA's hpc.slurm)"] = async (b) => {
    const script = path.join(b.root, "parallel.sh");
    // The allocation's nodes, as SIERRA writes them: N jobs per node.
    writeFileSync(
      script,
      `#!/bin/bash
scontrol show hostnames "$SLURM_JOB_NODELIST" | sed 's/^node/${PER_NODE}\\/127.0.0./' > ${b.root}/nodefile
exec parallel --ssh '${ssh.command}' --sshloginfile ${b.root}/nodefile --joblog ${b.root}/joblog < ${b.cmdfile}
`,
    );
    return run("salloc", [`--nodes=${NODES}`, "--exclusive", "bash", script]);
  };
}

const results = [];
try {
  for (const [label, count, command] of [
    ["60 x sleep 1", 60, "sleep 1"],
    ["300 x true", 300, "true"],
  ]) {
    for (const [name, method] of Object.entries(methods)) {
      const b = batch(`${name.replace(/\W+/g, "-")}-${count}`, count, command);
      const result = await method(b);
      if (result.code !== 0) throw new Error(`${name} failed (${result.code}):\n${result.output}`);
      const { makespan, overlap } = measured(b.out, count);
      results.push({ label, name, wall: result.seconds, makespan, overlap, count });
      console.log(
        `${label.padEnd(13)} ${name.padEnd(72)} wall ${result.seconds.toFixed(2)} s  makespan ${makespan.toFixed(2)} s  max at once ${overlap}`,
      );
    }
  }
} finally {
  if (!ssh.error) ssh.stop();
  await cluster.stop();
}

console.log(
  "\nratios (wall time, ours / theirs), and the per-run cost on 300 x true (wall x 6 slots / 300):",
);
for (const label of ["60 x sleep 1", "300 x true"]) {
  const rows = results.filter((row) => row.label === label);
  const base = rows.find((row) => row.name.startsWith("plain sbatch"));
  for (const row of rows) {
    const perRun = label === "300 x true" ? `  per run ${((row.wall * SLOTS) / row.count).toFixed(3)} s` : "";
    console.log(
      `${label.padEnd(13)} ${row.name.padEnd(72)} ${(row.wall / base.wall).toFixed(2)}x plain sbatch${perRun}`,
    );
  }
}

/** A private sshd on a free loopback port with a throwaway key; `command` is the ssh to use. */
async function startSshd() {
  const sshd = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"].find((file) => existsSync(file));
  if (!sshd) throw new Error("no sshd (apt-get install openssh-server)");
  const dir = path.join(work, "ssh");
  mkdirSync(dir, { recursive: true });
  mkdirSync("/run/sshd", { recursive: true }); // sshd's privilege separation directory
  for (const key of ["host", "user"]) {
    const made = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, key)]);
    if (made.code !== 0) throw new Error(`ssh-keygen: ${made.output}`);
  }
  writeFileSync(path.join(dir, "authorized_keys"), readFileSync(path.join(dir, "user.pub")));
  const port = await new Promise((resolve) => {
    import("node:net").then(({ createServer }) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port: free } = server.address();
        server.close(() => resolve(free));
      });
    });
  });
  const child = spawn(
    sshd,
    [
      "-D",
      "-e",
      "-f",
      "/dev/null",
      "-p",
      String(port),
      "-h",
      path.join(dir, "host"),
      // One address per node: the loopback has them all, and nothing listens beyond it.
      ...[1, 2, 3].flatMap((node) => ["-o", `ListenAddress=127.0.0.${node}`]),
      "-o",
      `AuthorizedKeysFile=${path.join(dir, "authorized_keys")}`,
      "-o",
      "StrictModes=no",
      "-o",
      "PermitRootLogin=yes",
      "-o",
      `PidFile=${path.join(dir, "sshd.pid")}`,
      "-o",
      "MaxStartups=100",
      "-o",
      "MaxSessions=100",
    ],
    { stdio: "ignore", detached: true },
  );
  const command = `ssh -p ${port} -i ${path.join(dir, "user")} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes`;
  for (let tries = 0; ; tries += 1) {
    const probe = await run("bash", ["-c", `${command} 127.0.0.2 true`]);
    if (probe.code === 0) break;
    if (tries > 50) {
      process.kill(-child.pid, "SIGKILL");
      throw new Error(`sshd on loopback did not answer: ${probe.output.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    command,
    stop: () => {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
    },
  };
}
