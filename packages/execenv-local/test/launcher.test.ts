// The launcher protocol against real processes, without the CLI: events, cap, stop.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { ExecuteContext, Run, RunOutcome } from "@sierra-exec/core";
import { waitFor } from "@sierra-exec/execenv-testkit";
import { describe, expect, it } from "vitest";
import { runWithLauncher } from "../src/launcher.js";

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

function context(jobs: number, signal = new AbortController().signal) {
  const events: string[] = [];
  const outcomes = new Map<string, RunOutcome>();
  let running = 0;
  let peak = 0;
  const ctx = {
    jobs,
    signal,
    executionId: "test",
    options: { python: "python3", killGrace: 0.2 },
    core: { execStrict: false },
    runStarted: (r: Run) => {
      events.push(`start ${r.id}`);
      peak = Math.max(peak, ++running);
    },
    runEnded: (r: Run, outcome: RunOutcome) => {
      running -= 1;
      events.push(`end ${r.id}`);
      outcomes.set(r.id, outcome);
    },
  } as unknown as ExecuteContext<{ python: string; killGrace: number }, unknown>;
  return { ctx, events, outcomes, peak: () => peak };
}

describe("run launcher", () => {
  it("reports a start and an end for every run, at most `jobs` at once", async () => {
    const runs = Array.from({ length: 6 }, (_, i) => run(i, `sleep 0.1; echo $SIERRA_RUN; exit ${i % 2}`));
    const { ctx, events, outcomes, peak } = context(2);
    await runWithLauncher(runs, ctx);
    expect(events.filter((e) => e.startsWith("start"))).toHaveLength(6);
    expect(peak()).toBe(2);
    expect([...outcomes.values()].map((o) => o.exitCode)).toEqual(expect.arrayContaining([0, 1]));
    expect(outcomes.get("e/run3")).toMatchObject({ exitCode: 1, signal: null });
  });

  it("on abort, stops the running runs and starts no others", async () => {
    const controller = new AbortController();
    const { ctx, events, outcomes } = context(2, controller.signal);
    const done = runWithLauncher([run(0, "sleep 30"), run(1, "sleep 30"), run(2, "true")], ctx);
    // Abort once both runs are running (a fixed delay lost that race on a loaded machine).
    await waitFor(() => events.filter((event) => event.startsWith("start")).length === 2, "two starts");
    controller.abort();
    await done;
    expect(outcomes.get("e/run0")?.signal).toBe("SIGTERM");
    expect(outcomes.get("e/run1")?.signal).toBe("SIGTERM");
    expect(outcomes.has("e/run2")).toBe(false);
  });
});
