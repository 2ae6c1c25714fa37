// A real Slurm cluster on this machine, for tests and benchmarks: slurmctld, one slurmd per
// node (`slurmd -N <name>`, each its own port, all on 127.0.0.1) and a munged with a private
// key and socket, all state in a temporary directory. Debian's slurmctld, slurmd,
// slurm-client and munge packages (Slurm 22.05) provide the programs.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { killMarkedOnExit, markedProcesses, spawnGroup, stopMarkedProcesses } from "@sierra-exec/core";
import { execa } from "execa";
import getPort from "get-port";

export interface TestCluster {
  /** The cluster's directory: slurm.conf, logs, state. */
  dir: string;
  /** What a Slurm client needs in its environment to use this cluster (SLURM_CONF). */
  env: { SLURM_CONF: string };
  nodes: string[];
  partition: string;
  /** Cancels every job of the cluster, stops its daemons and removes its directory. */
  stop(): Promise<void>;
}

export interface TestClusterSettings {
  nodes?: number;
  /** CPUs of each node: how many one-CPU runs fit on it at once. */
  cpus?: number;
  /** Where to put the cluster's directory (default: the system's temporary directory). */
  parent?: string;
}

/** The daemons and their slurmstepds carry this variable (value: the cluster's directory). */
const MARKER = "SIERRA_TEST_CLUSTER";
const SBIN = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

function findProgram(name: string, searchPath: string): string {
  for (const dir of searchPath.split(":")) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  throw new Error(
    `${name} not found: install Slurm and munge (apt-get install slurmctld slurmd slurm-client munge)`,
  );
}

function slurmConf(dir: string, ports: { ctld: number; nodes: number[] }, nodes: string[], cpus: number) {
  const file = (name: string) => path.join(dir, name);
  return [
    "ClusterName=sierra-test",
    "SlurmctldHost=localhost(127.0.0.1)",
    `SlurmctldPort=${ports.ctld}`,
    "SlurmUser=root",
    "SlurmdUser=root",
    "AuthType=auth/munge",
    "CredType=cred/munge",
    `AuthInfo=socket=${file("munge.socket")}`,
    `StateSaveLocation=${file("state")}`,
    `SlurmdSpoolDir=${file("spool")}/%n`,
    `SlurmctldPidFile=${file("slurmctld.pid")}`,
    `SlurmdPidFile=${file("slurmd-%n.pid")}`,
    `SlurmctldLogFile=${file("log/slurmctld.log")}`,
    `SlurmdLogFile=${file("log/slurmd-%n.log")}`,
    "ProctrackType=proctrack/linuxproc",
    "TaskPlugin=task/none",
    "SelectType=select/cons_tres",
    "SelectTypeParameters=CR_CPU",
    "SchedulerType=sched/backfill",
    "MpiDefault=none",
    "JobAcctGatherType=jobacct_gather/none",
    "AccountingStorageType=accounting_storage/none",
    "SwitchType=switch/none",
    "ReturnToService=2",
    // Nodes may claim more CPUs than this machine has: several share it.
    "SlurmdParameters=config_overrides",
    "KillWait=5",
    "MinJobAge=300",
    ...nodes.map(
      (node, index) =>
        `NodeName=${node} NodeHostname=localhost NodeAddr=127.0.0.1 Port=${ports.nodes[index]} CPUs=${cpus} RealMemory=1024 State=UNKNOWN`,
    ),
    `PartitionName=debug Nodes=${nodes.join(",")} Default=YES MaxTime=INFINITE State=UP`,
    "",
  ].join("\n");
}

/** Starts a cluster of `nodes` idle nodes (about 1-3 s); `stop()` leaves nothing behind. */
export async function startTestCluster(settings: TestClusterSettings = {}): Promise<TestCluster> {
  const { nodes: count = 3, cpus = 2, parent = tmpdir() } = settings;
  const searchPath = [process.env.PATH ?? "", ...SBIN].join(":");
  const programs = {
    munged: findProgram("munged", searchPath),
    slurmctld: findProgram("slurmctld", searchPath),
    slurmd: findProgram("slurmd", searchPath),
  };
  const dir = mkdtempSync(path.join(parent, "sierra-slurm-"));
  chmodSync(dir, 0o755); // munged wants its socket's directory searchable by all
  for (const sub of ["state", "spool", "log"]) mkdirSync(path.join(dir, sub));
  const key = path.join(dir, "munge.key");
  writeFileSync(key, (await import("node:crypto")).randomBytes(1024), { mode: 0o400 });

  const nodes = Array.from({ length: count }, (_, index) => `node${index + 1}`);
  const ctld = await getPort();
  const nodePorts: number[] = [];
  for (const _ of nodes) nodePorts.push(await getPort({ exclude: [ctld, ...nodePorts] }));
  const conf = path.join(dir, "slurm.conf");
  writeFileSync(conf, slurmConf(dir, { ctld, nodes: nodePorts }, nodes, cpus));

  // A clean environment: the daemons must not carry the markers of whoever starts them
  // (test suites kill what carries theirs), only the cluster's own.
  const env = { PATH: searchPath, HOME: dir, SLURM_CONF: conf, [MARKER]: dir };
  const start = (file: string, args: string[]) =>
    spawnGroup(file, args, { env, extendEnv: false, stdio: "ignore", buffer: false });
  // A test process that exits or is TERMed before stop(): kill -9 the daemons, remove the directory.
  const removeHook = killMarkedOnExit(MARKER, dir, () => rmSync(dir, { recursive: true, force: true }));
  const stop = async () => {
    removeHook();
    const ids = await execa("squeue", ["-h", "-o", "%A"], { env, reject: false });
    const jobs = ids.stdout.split("\n").filter(Boolean);
    if (jobs.length > 0) await execa("scancel", jobs, { env, reject: false });
    // The jobs' processes are the slurmstepds' children: let them end before the daemons do.
    await waitUntil(
      async () => (await execa("squeue", ["-h"], { env, reject: false })).stdout.trim() === "",
      "an empty queue",
      15_000,
    ).catch(() => {});
    await stopMarkedProcesses(MARKER, dir, { graceMs: 5000 });
    const left = markedProcesses(MARKER, dir);
    rmSync(dir, { recursive: true, force: true });
    if (left.length > 0) throw new Error(`test cluster: processes ${left.join(", ")} outlived it`);
  };
  try {
    await start(programs.munged, [
      "--foreground",
      "--force",
      `--socket=${path.join(dir, "munge.socket")}`,
      `--key-file=${key}`,
      `--pid-file=${path.join(dir, "munged.pid")}`,
      `--log-file=${path.join(dir, "log/munged.log")}`,
      `--seed-file=${path.join(dir, "munged.seed")}`,
    ]);
    await waitUntil(() => existsSync(path.join(dir, "munge.socket")), "munged", 10_000);
    await start(programs.slurmctld, ["-D", "-f", conf]);
    for (const node of nodes) await start(programs.slurmd, ["-D", "-f", conf, "-N", node]);
    await waitIdle(env, nodes.length);
  } catch (error) {
    await stop();
    throw error;
  }
  return { dir, env: { SLURM_CONF: conf }, nodes, partition: "debug", stop };
}

async function waitUntil(probe: () => boolean | Promise<boolean>, what: string, ms: number) {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`test cluster: ${what} did not come up within ${ms} ms`);
    await sleep(100);
  }
}

function waitIdle(env: NodeJS.ProcessEnv, count: number) {
  return waitUntil(
    async () => {
      const { stdout, exitCode } = await execa("sinfo", ["-h", "-N", "-o", "%t"], { env, reject: false });
      return exitCode === 0 && stdout.split("\n").filter((state) => state === "idle").length === count;
    },
    `${count} idle nodes`,
    30_000,
  );
}
