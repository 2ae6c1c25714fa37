// Finding processes by an environment marker, and stopping them, including one that ignores TERM.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { markedProcesses, stopMarkedProcesses } from "../src/marked-processes.js";

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
