// The test hosts against the real kernel: network and UTS namespaces on a private bridge
// (root, iproute2). What a host sees (its name, its address, what it can reach) is asked
// from inside it; what is left is asked from `ip` and /proc.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../src/processes.js";
import { startTestHosts, type TestHost, type TestHosts } from "../src/test-hosts.js";

const DIST = new URL("../dist/test-hosts.js", import.meta.url).pathname;

let harness: TestHosts;
let dir: string;
beforeAll(async () => {
  harness = await startTestHosts({ count: 3 });
  dir = mkdtempSync(path.join(tmpdir(), "sierra-test-hosts-"));
});
afterAll(async () => {
  await harness?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `bash` on `host` opens a TCP connection to address:port and prints what it is sent. */
const connect = (host: TestHost, address: string, port: number) =>
  host.exec("bash", ["-c", `exec 3<>/dev/tcp/${address}/${port} && timeout 5 cat <&3`]);

function listen(server: Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, address, () => resolve((server.address() as { port: number }).port));
  });
}

/** Alive and not a zombie (one whose parent has not reaped it yet is dead). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** What `ip` still shows of harness `id` (the prefix of its names). */
function leftovers(id: string): string[] {
  const shown =
    execFileSync("ip", ["-o", "link"], { encoding: "utf8" }) +
    execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  return shown.split("\n").filter((line) => line.includes(id));
}

/** A node process (a test process of its own) that starts 2 hosts with a sleeper on each. */
async function childWithHosts() {
  const script = `
    import { startTestHosts } from ${JSON.stringify(DIST)};
    import { readFileSync } from "node:fs";
    const harness = await startTestHosts({ count: 2 });
    for (const host of harness.hosts) await host.start("a sleeper", "sleep", ["1000"], { logFile: "/dev/null" });
    // Until each host's shell has set its name and become the sleeper.
    const comm = (pid) => { try { return readFileSync(\`/proc/\${pid}/comm\`, "utf8").trim(); } catch { return ""; } };
    while (!harness.hosts.every((h) => h.pids().map(comm).join() === "sleep")) await new Promise((r) => setTimeout(r, 20));
    console.log(JSON.stringify({ id: harness.hosts[0].name.split("-")[0], pids: harness.hosts.flatMap((h) => h.pids()) }));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ended = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on("exit", (_code, how) => resolve(how)),
  );
  let out = "";
  child.stdout.on("data", (chunk) => {
    out += chunk;
  });
  const started = await waitFor(() => out.includes("\n") && JSON.parse(out), "the child's hosts", 15_000);
  return { child, ended, ...(started as { id: string; pids: number[] }) };
}

const idOf = (hosts: TestHosts) => (hosts.hosts[0] as TestHost).name.split("-")[0] as string;

describe("test hosts", () => {
  it("each has its own hostname and address, short unique names, no route off the bridge", async () => {
    const names = harness.hosts.map((host) => host.name);
    expect(new Set(names).size).toBe(3);
    for (const host of harness.hosts) {
      expect(host.name.length).toBeLessThanOrEqual(15);
      expect((await host.exec("hostname", [])).stdout.trim()).toBe(host.name);
      const addresses = await host.exec("ip", ["-4", "-o", "addr", "show", "dev", "eth0"]);
      expect(addresses.stdout).toContain(` ${host.address}/24 `);
      const out = await host.exec("ip", ["route", "get", "192.0.2.7"]);
      expect(out.exitCode).not.toBe(0);
      expect(out.stderr).toMatch(/unreachable/i);
    }
    expect(execFileSync("hostname", { encoding: "utf8" }).trim()).not.toContain(names[0]);
  });

  it("a server bound to the bridge address is reached from every host; one on loopback is not", async () => {
    const seen: string[] = [];
    const bridge = createServer((socket) => {
      seen.push(socket.remoteAddress as string);
      socket.end("bridge\n");
    });
    const loopback = createServer((socket) => socket.end("loopback\n"));
    try {
      const bridgePort = await listen(bridge, harness.bridgeAddress);
      const loopbackPort = await listen(loopback, "127.0.0.1");
      for (const host of harness.hosts) {
        const reached = await connect(host, harness.bridgeAddress, bridgePort);
        expect(reached.stdout.trim()).toBe("bridge");
        const refused = await connect(host, "127.0.0.1", loopbackPort);
        expect(refused.exitCode).not.toBe(0);
        expect(refused.stdout).toBe("");
      }
      expect(seen.sort()).toEqual(harness.hosts.map((host) => host.address).sort());
    } finally {
      bridge.close();
      loopback.close();
    }
  });

  it("start: the command itself (same pid) leads its own group on the host, with the given environment, output to its log", async () => {
    const [host] = harness.hosts as [TestHost];
    const logFile = path.join(dir, "start.log");
    const child = await host.start(
      "a sleeper",
      "sh",
      ["-c", 'echo "$GREETING from $(hostname) as $$"; exec sleep 1000'],
      {
        env: { GREETING: "hello" },
        logFile,
        cwd: dir,
      },
    );
    await waitFor(
      () => existsSync(logFile) && readFileSync(logFile, "utf8").includes("\n"),
      "the greeting",
      10_000,
    );
    expect(readFileSync(logFile, "utf8")).toBe(`hello from ${host.name} as ${child.pid}\n`);
    const stat = readFileSync(`/proc/${child.pid}/stat`, "utf8");
    expect(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2])).toBe(child.pid); // its pgrp
    expect(host.pids()).toContain(child.pid);
    await child.stop({ graceMs: 1000 });
    expect(child.running).toBe(false);
    expect(host.pids()).not.toContain(child.pid);
  });

  it("hosts reach each other", async () => {
    const [first, second] = harness.hosts as [TestHost, TestHost];
    const server = `require("net").createServer((s) => s.end(require("os").hostname())).listen(7000, "${second.address}")`;
    const listener = await second.start("a listener", process.execPath, ["-e", server], {
      logFile: path.join(dir, "listener.log"),
    });
    try {
      let answer = await connect(first, second.address, 7000);
      for (let tries = 0; answer.exitCode !== 0 && tries < 100; tries++) {
        await sleep(100); // the listener is still starting
        answer = await connect(first, second.address, 7000);
      }
      expect(answer.stdout).toBe(second.name);
    } finally {
      await listener.stop({ graceMs: 1000 });
    }
  });

  it("kill(): nothing is left on that host while the others keep their processes", async () => {
    const sleepers = await Promise.all(
      harness.hosts.map((host) =>
        host.start("a sleeper", "sleep", ["1000"], { logFile: path.join(dir, `${host.name}.log`) }),
      ),
    );
    const [dead, ...rest] = harness.hosts as [TestHost, ...TestHost[]];
    // A grandchild in a session of its own is on the host too.
    await dead.exec("sh", ["-c", "setsid -f sleep 1000 >/dev/null 2>&1"]);
    // Each start's shell names its host, then becomes the sleeper: until then a host has 2 more.
    await waitFor(
      () => dead.pids().length === 2 && rest.every((host) => host.pids().length === 1),
      "the sleepers to settle",
    );
    dead.kill();
    expect(dead.pids()).toEqual([]);
    await sleepers[0]?.exited;
    expect(sleepers[0]?.exitSignal).toBe("SIGKILL");
    for (const [index, host] of rest.entries()) {
      expect(host.pids()).toEqual([sleepers[index + 1]?.pid]);
    }
    await Promise.all(sleepers.map((sleeper) => sleeper.stop({ graceMs: 500 })));
  });

  it("stop() leaves no namespace, link or process, and may be called again; two harnesses do not collide", async () => {
    const other = await startTestHosts({ count: 2 });
    const id = idOf(other);
    expect(id).not.toBe(idOf(harness));
    expect(other.bridgeAddress).not.toBe(harness.bridgeAddress);
    const sleepers = await Promise.all(
      other.hosts.map((host) =>
        host.start("a sleeper", "sleep", ["1000"], { logFile: path.join(dir, `${host.name}.log`) }),
      ),
    );
    await other.hosts[0]?.exec("sh", ["-c", "setsid -f sh -c \"trap '' TERM; sleep 1000\" >/dev/null 2>&1"]);
    // Two sleepers, and a shell that ignores TERM with its sleep.
    const pids = await waitFor(() => {
      const found = other.hosts.flatMap((host) => host.pids());
      return found.length === 4 && found;
    }, "4 processes on the hosts");
    expect(leftovers(id).length).toBeGreaterThan(0);
    await other.stop();
    expect(leftovers(id)).toEqual([]);
    expect(pids.filter(alive)).toEqual([]);
    // Their parent learns of their ends a moment later (reaped on its event loop); an end that
    // never comes fails this test by its timeout.
    await Promise.all(sleepers.map((sleeper) => sleeper.exited));
    expect(
      sleepers.every((sleeper) => sleeper.exitSignal === "SIGTERM" || sleeper.exitSignal === "SIGKILL"),
    ).toBe(true);
    await other.stop();
  });

  it.each(["SIGTERM", "SIGINT"] as const)("a test process that gets %s leaves nothing", async (signal) => {
    const { child, ended, id, pids } = await childWithHosts();
    expect(pids.length).toBe(2);
    expect(leftovers(id).length).toBeGreaterThan(0);
    child.kill(signal);
    expect(await ended).toBe(signal); // the hook cleans up, then the signal ends it as usual
    expect(leftovers(id)).toEqual([]);
    expect(pids.filter(alive)).toEqual([]);
  });

  it("a harness whose test process was killed with -9 is torn down by the next one", async () => {
    const { child, ended, id, pids } = await childWithHosts();
    child.kill("SIGKILL");
    await ended;
    expect(pids.filter(alive).length).toBe(2); // nothing could clean up
    const next = await startTestHosts({ count: 1 });
    try {
      expect(leftovers(id)).toEqual([]);
      expect(pids.filter(alive)).toEqual([]);
      expect(leftovers(idOf(harness)).length).toBeGreaterThan(0); // a live owner's harness stays
    } finally {
      await next.stop();
    }
  });

  it("refuses in one line when it cannot make hosts (not root)", () => {
    // The module is loaded as root, then the process becomes nobody: a checkout under a
    // directory that nobody may read (CI's) must not turn this into a failed import.
    const script = `const { startTestHosts } = await import(${JSON.stringify(DIST)});
      process.setgroups([]);
      process.setgid(65534);
      process.setuid(65534);
      await startTestHosts({ count: 1 }).catch((error) => console.log(error.message));`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    expect(out).toBe("test hosts: they need root (network namespaces, a bridge): run the tests as root\n");
  });
});
