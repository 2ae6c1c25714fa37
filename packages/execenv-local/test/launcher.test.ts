// The launcher protocol against real processes, without the CLI: events, cap, stop.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { ExecuteContext, Run, RunOutcome } from "@sierra-exec/core";
import { waitFor } from "@sierra-exec/execenv-testkit";
import { describe, expect, it } from "vitest";
import { Launcher } from "../src/launcher.js";

const dir = mkdtempSync(path.join(tmpdir(), "launcher-"));
const run = (index: number, command: string): Run => ({
  id: `e/run${index}`,
  exp: "e",
  index,
  seq: index + 1,
  command,
  cwd: dir,
  env: { SIERRA_RUN: String(index) },
  stdout: path.join(dir, `run${index}`, "stdout"),
  stderr: null,
});

function context(signal = new AbortController().signal) {
  const outcomes = new Map<string, RunOutcome>();
  let running = 0;
  let peak = 0;
  const ctx = {
    signal,
    runStarted: () => {
      peak = Math.max(peak, ++running);
    },
    runEnded: (r: Run, outcome: RunOutcome) => {
      running -= 1;
      outcomes.set(r.id, outcome);
    },
  } as unknown as ExecuteContext<unknown, unknown>;
  return { ctx, outcomes, peak: () => peak, running: () => running };
}

// Unique: processes marked with a batch's id are swept by that batch's clean-up, and other
// suites run at the same time (a shared "test" let another suite's sweep stop these runs).
const settings = {
  python: "python3",
  jobs: 2,
  killGrace: 0.2,
  strict: false,
  executionId: `launcher-test-${process.pid}`,
};

describe("run launcher", () => {
  it("reports an end for every run, at most `jobs` at once, and serves several sets", async () => {
    const launcher = await Launcher.start(settings);
    const first = context();
    await launcher.execute(
      Array.from({ length: 6 }, (_, i) => run(i, `sleep 0.1; exit ${i % 2}`)),
      first.ctx,
    );
    expect(first.outcomes.size).toBe(6);
    expect(first.peak()).toBe(2);
    expect(first.outcomes.get("e/run3")).toMatchObject({ exitCode: 1, signal: null });
    const second = context();
    await launcher.execute([run(6, "exit 4")], second.ctx);
    expect(second.outcomes.get("e/run6")?.exitCode).toBe(4);
    await launcher.close();
  });

  it("on abort, stops the running runs and starts no others", async () => {
    const launcher = await Launcher.start(settings);
    const controller = new AbortController();
    const { ctx, outcomes, running } = context(controller.signal);
    const done = launcher.execute([run(0, "sleep 30"), run(1, "sleep 30"), run(2, "true")], ctx);
    // Abort once both runs are running (a fixed delay lost that race on a loaded machine).
    await waitFor(() => running() === 2, "two starts");
    controller.abort();
    await done;
    expect(outcomes.get("e/run0")?.signal).toBe("SIGTERM");
    expect(outcomes.get("e/run1")?.signal).toBe("SIGTERM");
    expect(outcomes.has("e/run2")).toBe(false);
    await launcher.close();
  });

  it("refuses an interpreter that cannot host it, in one line", async () => {
    await expect(Launcher.start({ ...settings, python: "/nonexistent/python3" })).rejects.toThrow(
      /^the local execenv needs Python 3\.9\+ \(tried "\/nonexistent\/python3".*\): install python3 or pass --python PATH$/,
    );
  });
});
