// Test hosts on this machine (Linux, root): one network namespace per host on a private
// bridge of its own (no uplink, no NAT, no default route: traffic stays on the bridge and
// loopback), each process of a host in a UTS namespace named after it. A server the hosts
// must reach listens on the bridge address, as it would on a real network.
import { execFileSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HelperProcess, lastLine } from "@sierra-exec/core";
import { execa } from "execa";
import { onExit } from "signal-exit";

export interface TestHost {
  /** Its hostname, also the name of its network namespace (`sx3f2a-h1`). */
  name: string;
  /** Its IPv4 address on the private bridge. */
  address: string;
  /**
   * Starts a process on this host (its network namespace, a UTS namespace with `name` as
   * hostname) in its own process group, output appended to `logFile`. Its environment is
   * PATH and HOME of the test process plus `env`, nothing else: another machine would not
   * have the test's variables.
   */
  start(
    what: string,
    command: string,
    args: string[],
    options: { env?: Record<string, string>; logFile: string; cwd?: string },
  ): Promise<HelperProcess>;
  /** Runs a command on this host to its end (never rejects; same environment as `start`). */
  exec(
    command: string,
    args: string[],
    options?: { env?: Record<string, string> },
  ): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Pids of every process now on this host (`ip netns pids`). */
  pids(): number[];
  /** The host dies: kill -9 of every process on it; returns once none is left. */
  kill(): void;
}

export interface TestHosts {
  /** The bridge's address: servers the hosts must reach listen here (not only on loopback). */
  bridgeAddress: string;
  hosts: TestHost[];
  /** Stops every process on every host (TERM, KILL after 2 s), deletes the namespaces, the veths and the bridge. Idempotent. */
  stop(): Promise<void>;
}

const SBIN = ["/usr/sbin", "/sbin", "/usr/local/sbin"];
/** The private ranges a harness's /24 is drawn from (first octets and how many /24s each spans). */
const RANGES = [
  { base: [10, 0], count: 65536 },
  { base: [172, 16], count: 4096 },
  { base: [192, 168], count: 256 },
];
/** Sets the hostname of the fresh UTS namespace, then becomes the command. */
const AS_HOST = 'hostname "$0" && exec "$@"';

function fail(message: string): never {
  throw new Error(`test hosts: ${message}`);
}

function findProgram(name: string, hint: string): string {
  for (const dir of [...(process.env.PATH ?? "").split(":"), ...SBIN]) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return fail(`${name} not found: ${hint}`);
}

/** Runs `ip` and returns its stdout; throws one line (ip's own) when it fails. */
function ip(program: string, args: string[], input?: string): string {
  try {
    return execFileSync(program, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
  } catch (error) {
    const said = lastLine(String((error as { stderr?: string }).stderr ?? "")) || (error as Error).message;
    return fail(`ip ${args.join(" ")}: ${said}`);
  }
}

function toInt(address: string): number {
  return address.split(".").reduce((sum, octet) => sum * 256 + Number(octet), 0);
}

/** The IPv4 prefixes this machine routes or holds, as [first, last] integer ranges. */
function takenRanges(program: string): [number, number][] {
  const text = `${ip(program, ["-4", "-o", "route", "show", "table", "all"])}\n${ip(program, ["-4", "-o", "addr"])}`;
  const ranges: [number, number][] = [];
  for (const [, address, bits] of text.matchAll(/(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?/g)) {
    const size = 2 ** (32 - Number(bits ?? 32));
    if (size === 2 ** 32) continue; // the default route is not a network of its own
    const first = toInt(address as string) - (toInt(address as string) % size);
    ranges.push([first, first + size - 1]);
  }
  return ranges;
}

/** A random private /24 that no route or address of this machine overlaps: "10.87.3". */
function freeSubnet(program: string): string {
  const taken = takenRanges(program);
  for (let attempt = 0; attempt < 200; attempt++) {
    const range = RANGES[randomInt(RANGES.length)] as (typeof RANGES)[number];
    const index = randomInt(range.count);
    const [a, b] = range.base as [number, number];
    const prefix = `${a}.${b + Math.floor(index / 256)}.${index % 256}`;
    const first = toInt(`${prefix}.0`);
    if (!taken.some(([low, high]) => first <= high && first + 255 >= low)) return prefix;
  }
  return fail("no free private /24 found (every candidate is routed on this machine)");
}

/** Blocks the thread for `ms` (exit hooks cannot await). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function netnsPids(program: string, netns: string): number[] {
  try {
    const out = execFileSync(program, ["netns", "pids", netns], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return out.split("\n").filter(Boolean).map(Number);
  } catch {
    return []; // the namespace is gone
  }
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

/** The names of harness `id`'s links and namespaces (a host's name is its namespace's). */
function namesOf(id: string, count: number) {
  const index = Array.from({ length: count }, (_, at) => at + 1);
  return {
    bridge: `${id}-br`,
    hosts: index.map((n) => `${id}-h${n}`),
    veths: index.map((n) => `${id}-v${n}`),
  };
}

/** What makes a process unique over time: its pid and its start time (/proc/<pid>/stat). */
function processIdentity(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return `${pid}:${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`;
  } catch {
    return undefined;
  }
}

/** Kills every process of harness `id` and deletes its namespaces, veths and bridge; synchronous. */
function teardown(program: string, id: string, count: number): void {
  const { bridge, hosts, veths } = namesOf(id, count);
  for (const host of hosts) killNetns(program, host);
  // -force: go on past what is already gone (a half-made harness, a second stop).
  const lines = [
    ...hosts.map((host, at) => `link del ${veths[at]}\nnetns del ${host}`),
    `link del ${bridge}`,
  ];
  try {
    execFileSync(program, ["-force", "-batch", "-"], {
      input: `${lines.join("\n")}\n`,
      stdio: ["pipe", "ignore", "ignore"],
    });
  } catch {
    // ip says which lines failed: those were gone already
  }
}

/**
 * Tears down the harnesses whose test process is gone without its exit hook (kill -9): each
 * bridge's alias names its owner (`sierra-test-hosts <pid>:<start time> <count>`).
 */
function sweepOrphans(program: string): void {
  const links = ip(program, ["-o", "link", "show", "type", "bridge"]);
  for (const [, id, owner, count] of links.matchAll(
    /: (sx[0-9a-f]{4})-br[:@].*?alias sierra-test-hosts (\d+:\d+) (\d+)/g,
  )) {
    if (processIdentity(Number((owner as string).split(":")[0])) !== owner)
      teardown(program, id as string, Number(count));
  }
}

/** kill -9 of everything in `netns` until none is left (or 5 s: a process stuck in the kernel). */
function killNetns(program: string, netns: string): void {
  const deadline = Date.now() + 5000;
  for (let pids = netnsPids(program, netns); pids.length > 0; pids = netnsPids(program, netns)) {
    if (Date.now() > deadline) fail(`processes ${pids.join(", ")} on ${netns} outlived kill -9`);
    signalAll(pids, "SIGKILL");
    sleepSync(10);
  }
}

/**
 * Makes `count` hosts (about 0.1 s). Throws one line when this machine cannot (not root,
 * no iproute2 or util-linux, no network namespaces). Nothing is left once `stop()` has
 * run, nor when the test process exits or gets SIGTERM/SIGINT before that.
 */
export async function startTestHosts({ count }: { count: number }): Promise<TestHosts> {
  if (process.platform !== "linux") fail("they need Linux network namespaces");
  if (process.getuid?.() !== 0) fail("they need root (network namespaces, a bridge): run the tests as root");
  const program = findProgram("ip", "install iproute2 (apt-get install iproute2)");
  const unshare = findProgram("unshare", "install util-linux (apt-get install util-linux)");
  sweepOrphans(program);
  const taken = ip(program, ["-o", "link"]) + ip(program, ["netns", "list"]);
  let id = "";
  do id = `sx${randomBytes(2).toString("hex")}`;
  while (taken.includes(id));
  const subnet = freeSubnet(program);
  const { bridge, hosts: names, veths } = namesOf(id, count);
  let stopped = false;
  const removeHook = onExit(() => {
    if (!stopped) teardown(program, id, count);
  });
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    removeHook();
    // TERM first so that servers and workers can say goodbye, then the exit hook's kill -9.
    const pids = () => names.flatMap((name) => netnsPids(program, name));
    signalAll(pids(), "SIGTERM");
    const deadline = Date.now() + 2000;
    while (pids().length > 0 && Date.now() < deadline) await sleep(50);
    teardown(program, id, count);
  };

  try {
    ip(
      program,
      ["-batch", "-"],
      [
        `link add ${bridge} type bridge`,
        `addr add ${subnet}.1/24 dev ${bridge}`,
        `link set ${bridge} alias "sierra-test-hosts ${processIdentity(process.pid)} ${count}"`,
        `link set ${bridge} up`,
        ...names.flatMap((name, index) => [
          `netns add ${name}`,
          `link add ${veths[index]} type veth peer name eth0 netns ${name}`,
          `link set ${veths[index]} master ${bridge} up`,
        ]),
        "",
      ].join("\n"),
    );
    for (const [index, name] of names.entries()) {
      ip(
        program,
        ["-n", name, "-batch", "-"],
        [`addr add ${subnet}.${index + 2}/24 dev eth0`, "link set eth0 up", "link set lo up", ""].join("\n"),
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const hosts = names.map((name, index): TestHost => {
    // ip netns exec, unshare and sh each exec the next: the pid is the command's own.
    const wrap = (command: string, args: string[]) => [
      "netns",
      "exec",
      name,
      unshare,
      "--uts",
      "--",
      "/bin/sh",
      "-c",
      AS_HOST,
      name,
      command,
      ...args,
    ];
    const env = (extra: Record<string, string> = {}) => ({
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      ...extra,
    });
    return {
      name,
      address: `${subnet}.${index + 2}`,
      start: (what, command, args, options) =>
        HelperProcess.start(what, program, wrap(command, args), {
          env: env(options.env),
          logFile: options.logFile,
          ...(options.cwd ? { cwd: options.cwd } : {}),
        }),
      exec: async (command, args, options = {}) => {
        const result = await execa(program, wrap(command, args), {
          env: env(options.env),
          extendEnv: false,
          reject: false,
          stdin: "ignore",
        });
        return { exitCode: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
      },
      pids: () => netnsPids(program, name),
      kill: () => killNetns(program, name),
    };
  });
  return { bridgeAddress: `${subnet}.1`, hosts, stop };
}
