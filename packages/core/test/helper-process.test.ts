// The shared helper-process pieces against real processes: the tail a dead helper is quoted
// by, its restart, and the environment that isolates a backend yet restores the caller's.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { HelperProcess, KeepAlive, lastLine, OutputTail } from "../src/helper-process.js";
import { isolatedEnv, RESTORE_ENV } from "../src/isolated-env.js";

const quiet = { info: () => {}, warn: () => {}, debug: () => {} };
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

describe("last words", () => {
  it("are the last non-blank line, cut to a few hundred characters", () => {
    expect(lastLine("first\n  second  \n\n")).toBe("second");
    expect(lastLine("")).toBe("");
    expect(lastLine("x".repeat(2_000_000))).toHaveLength(300);
    const tail = new OutputTail();
    for (let i = 0; i < 10_000; i++) tail.push(`line ${i}\n`);
    expect(tail.lastLine()).toBe("line 9999");
  });

  it("of a helper that dies are in its one-line description, from a pipe or from its log file", async () => {
    const piped = await HelperProcess.start(
      "the test helper",
      "sh",
      ["-c", "echo starting; sleep 0.2; echo 'boom: it broke' >&2; exit 3"],
      {
        env,
      },
    );
    await piped.exited;
    expect(piped.describeExit()).toBe("the test helper exited (status 3): boom: it broke");

    const log = path.join(mkdtempSync(path.join(tmpdir(), "helper-")), "helper.log");
    const logged = await HelperProcess.start(
      "the logged helper",
      "sh",
      ["-c", "echo 'said last' >&2; kill -9 $$"],
      {
        env,
        logFile: log,
      },
    );
    await logged.exited;
    expect(logged.describeExit()).toBe(`the logged helper exited (signal SIGKILL): said last (log: ${log})`);
    expect(readFileSync(log, "utf8")).toBe("said last\n");
  });
});

describe("a helper kept alive", () => {
  it("is started again when it dies on its own, not when it is stopped; a failed restart is one line", async () => {
    const start = () => HelperProcess.start("the sleeper", "sleep", ["30"], { env });
    const alive = new KeepAlive(await start(), start, quiet);
    expect(alive.check()).toBe(true);
    const first = alive.process;
    process.kill(first.pid, "SIGKILL");
    await first.exited;
    expect(alive.check()).toBe(false);
    for (let i = 0; i < 200 && alive.process === first; i++) await new Promise((r) => setTimeout(r, 10));
    expect(alive.process).not.toBe(first);
    expect(alive.check()).toBe(true);
    await alive.process.stop({ graceMs: 1000 });
    expect(alive.check()).toBe(true);

    const failing = new KeepAlive(await start(), () => Promise.reject(new Error("its port is taken")), quiet);
    process.kill(failing.process.pid, "SIGKILL");
    await failing.process.exited;
    failing.check();
    for (let i = 0; i < 200 && failing.failure === undefined; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(failing.failure).toBe(
      "the sleeper exited (signal SIGKILL), and starting it again failed: its port is taken",
    );
  });
});

describe("an isolated environment", () => {
  it("drops the caller's settings of the backend, adds the batch's, and says how to restore the caller's", () => {
    const isolated = isolatedEnv(
      { PATH: "/bin", HOME: "/home/u", PREFECT_API_URL: "http://cloud" },
      {
        prefix: "PREFECT_",
        settings: { PREFECT_HOME: "/b/home", HOME: "/b/home", TMPDIR: "/b/tmp" },
        executionId: "x",
      },
    );
    expect(isolated).toMatchObject({
      PATH: "/bin",
      HOME: "/b/home",
      PREFECT_HOME: "/b/home",
      SIERRA_EXEC_ID: "x",
    });
    expect(isolated.PREFECT_API_URL).toBeUndefined();
    expect(JSON.parse(isolated[RESTORE_ENV] as string)).toEqual({
      prefix: "PREFECT_",
      caller: { PREFECT_API_URL: "http://cloud", HOME: "/home/u", TMPDIR: null },
    });
  });
});
