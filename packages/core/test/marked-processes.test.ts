// Finding processes by an environment marker, and stopping them, including one that ignores TERM;
// killing them when the process that made them ends before it could stop them.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { markedProcesses, stopMarkedProcesses } from "../src/marked-processes.js";

const DIST = new URL("../dist/index.js", import.meta.url).pathname;

describe("marked processes", () => {
  it("finds the processes carrying the marker, in other sessions too, and stops them", async () => {
    const marker = randomUUID();
    const env = { ...process.env, TEST_MARK: marker };
    const polite = spawn("sleep", ["300"], { env, detached: true, stdio: "ignore" });
    const stubborn = spawn("bash", ["-c", "trap '' TERM; sleep 300 & wait"], {
      env,
      detached: true,
      stdio: "ignore",
    });
    const other = spawn("sleep", ["300"], { env: { ...process.env, TEST_MARK: "other" }, stdio: "ignore" });
    for (let i = 0; i < 100 && markedProcesses("TEST_MARK", marker).length < 3; i++) await sleep(20);
    expect(markedProcesses("TEST_MARK", marker)).toEqual(expect.arrayContaining([polite.pid, stubborn.pid]));
    expect(markedProcesses("TEST_MARK", marker)).not.toContain(other.pid);
    const stopped = await stopMarkedProcesses("TEST_MARK", marker, { graceMs: 300 });
    expect(stopped.length).toBe(3); // sleep, bash and its sleep
    expect(markedProcesses("TEST_MARK", marker)).toEqual([]);
    other.kill("SIGKILL");
  });
});

describe("this host's marked processes", () => {
  // A host is a network namespace: the test hosts of multi-host tests are namespaces of one machine.
  it.runIf(process.getuid?.() === 0)("leave out those of another network namespace", async () => {
    const marker = randomUUID();
    const env = { ...process.env, TEST_MARK: marker };
    const here = spawn("sleep", ["300"], { env, stdio: "ignore" });
    const elsewhere = spawn("unshare", ["--net", "sleep", "300"], { env, stdio: "ignore" });
    for (let i = 0; i < 100 && markedProcesses("TEST_MARK", marker).length < 2; i++) await sleep(20);
    expect(markedProcesses("TEST_MARK", marker).sort()).toEqual([here.pid, elsewhere.pid].sort());
    expect(markedProcesses("TEST_MARK", marker, { thisHost: true })).toEqual([here.pid]);
    expect(await stopMarkedProcesses("TEST_MARK", marker, { graceMs: 300, thisHost: true })).toEqual([
      here.pid,
    ]);
    expect(markedProcesses("TEST_MARK", marker)).toEqual([elsewhere.pid]);
    elsewhere.kill("SIGKILL");
  });
});

describe("killMarkedOnExit", () => {
  /** A node process that starts a marked `script` (a sleep that ignores TERM), arms the hook, then does `then`. */
  const child = (marker: string, flag: string, then: string, script = "trap '' TERM; sleep 300") =>
    spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { spawn } from "node:child_process";
         import { writeFileSync } from "node:fs";
         import { killMarkedOnExit } from ${JSON.stringify(DIST)};
         spawn("bash", ["-c", ${JSON.stringify(script)}], { env: { ...process.env, TEST_MARK: ${JSON.stringify(marker)} }, detached: true, stdio: "ignore" }).unref();
         const remove = killMarkedOnExit("TEST_MARK", ${JSON.stringify(marker)}, () => writeFileSync(${JSON.stringify(flag)}, ""));
         ${then}`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
  const dir = mkdtempSync(path.join(tmpdir(), "kill-marked-on-exit-"));

  it.each(["SIGTERM", "SIGINT"] as const)(
    "kills the marked processes when the process gets %s",
    async (signal) => {
      const marker = randomUUID();
      const flag = path.join(dir, signal);
      const maker = child(marker, flag, "console.log('ready'); setInterval(() => {}, 1000);");
      const ended = new Promise((resolve) => maker.on("exit", (_code, how) => resolve(how)));
      await new Promise((resolve) => maker.stdout.once("data", resolve));
      expect(markedProcesses("TEST_MARK", marker).length).toBeGreaterThan(0);
      maker.kill(signal);
      expect(await ended).toBe(signal); // the signal still ends it
      expect(markedProcesses("TEST_MARK", marker)).toEqual([]);
      expect(existsSync(flag)).toBe(true);
    },
  );

  it("kills them on a plain exit, and not once removed", async () => {
    const ended = (maker: ReturnType<typeof child>) => new Promise((resolve) => maker.on("exit", resolve));
    const marker = randomUUID();
    await ended(child(marker, path.join(dir, "exit"), "process.exit(0);"));
    expect(markedProcesses("TEST_MARK", marker)).toEqual([]);
    expect(existsSync(path.join(dir, "exit"))).toBe(true);
    const kept = randomUUID();
    await ended(child(kept, path.join(dir, "removed"), "remove(); process.exit(0);"));
    expect(markedProcesses("TEST_MARK", kept).length).toBeGreaterThan(0);
    expect(existsSync(path.join(dir, "removed"))).toBe(false);
    await stopMarkedProcesses("TEST_MARK", kept, { graceMs: 100 });
  });

  it("also kills what a marked process forks while it is being killed", async () => {
    const marker = randomUUID();
    const forker = child(
      marker,
      path.join(dir, "forker"),
      "setTimeout(() => process.exit(0), 300);",
      "while :; do sleep 300 & done",
    );
    await new Promise((resolve) => forker.on("exit", resolve));
    try {
      expect(markedProcesses("TEST_MARK", marker)).toEqual([]);
    } finally {
      await stopMarkedProcesses("TEST_MARK", marker, { graceMs: 100 });
    }
  });
});
