// Stopping a batch: signals, --exec-strict and a killed CLI. Whatever happens, no process
// it started may remain, and no finished run may be lost or repeated.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import {
  commandsWith,
  makeBatch,
  newMarker,
  processesWith,
  readRecords,
  sierra,
  waitFor,
} from "./helpers.js";

// A run that ignores TERM and leaves a grandchild that ignores it too.
const STUBBORN = 'trap "" TERM; sleep 300 & sleep 300; wait';

describe.each([
  ["SIGINT", 130],
  ["SIGTERM", 143],
] as const)("on %s", (signal, status) => {
  it(`stops every run and its children, records them, exits ${status}`, async () => {
    const root = makeBatch({ a: ["true", STUBBORN, STUBBORN, STUBBORN] });
    const marker = newMarker();
    const cli = sierra(["--batch-root", root, "--exec-jobs-per-node", "2", "--kill-grace", "0.5"], {
      marker,
    });
    // Two stubborn runs, each with a grandchild: four sleeps.
    const sleeping = () => commandsWith(marker).filter((command) => command === "sleep 300").length;
    await waitFor(() => sleeping() === 4, "the runs to start");
    cli.kill(signal);
    const result = await cli;
    expect(result.exitCode).toBe(status);
    expect(processesWith(marker)).toEqual([]);
    const records = readRecords(root);
    const stopped = records.filter((record) => record.command === STUBBORN);
    expect(stopped).toHaveLength(2);
    for (const record of stopped) expect(record.signal).toBe("SIGKILL");
    expect(result.stderr).toMatch(new RegExp(`interrupted by ${signal}`));
    // Stopped by the signal: not failures of their own, and no ETA once stopping.
    expect(result.stderr).toMatch(new RegExp(`1 succeeded, 0 failed, 2 stopped \\(${signal}\\), 1 not run`));
    expect(result.stderr).not.toMatch(/failed \(killed/);
    const afterStop = result.stderr.slice(result.stderr.indexOf(`${signal}: stopping`));
    expect(afterStop).not.toMatch(/ETA/);
    for (const record of stopped) expect(record.stopped).toBe(signal);
  });
});

describe("--exec-strict", () => {
  it("at the first failure starts no new run, stops the running ones and exits 1", async () => {
    const root = makeBatch({ a: ["sleep 0.3; exit 7", "sleep 300", "true", "true", "true"] });
    const marker = newMarker();
    const started = Date.now();
    const result = await sierra(["--batch-root", root, "--exec-jobs-per-node", "2", "--exec-strict"], {
      marker,
    });
    expect(result.exitCode).toBe(1);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(processesWith(marker)).toEqual([]);
    const records = readRecords(root);
    expect(records.map((r) => [r.run, r.exitCode, r.signal])).toEqual([
      [0, 7, null],
      [1, null, "SIGTERM"],
    ]);
    expect(result.stderr).toMatch(/stopped after a\/run0 failed \(--exec-strict\)/);
    expect(result.stderr).toMatch(/3 not run/);
  });

  it("without it, a failure does not stop the batch", async () => {
    const root = makeBatch({ a: ["exit 7", "true", "true"] });
    const result = await sierra(["--batch-root", root, "--exec-jobs-per-node", "1"]);
    expect(result.exitCode).toBe(1);
    expect(readRecords(root)).toHaveLength(3);
  });
});

describe("a CLI killed with SIGKILL", () => {
  it("leaves no run behind, and --exec-resume loses and repeats no finished run", async () => {
    // Each run counts its executions; the slow ones block until the file `go` exists.
    const count = 'echo x >> "$SIERRA_BATCH_ROOT/count-$SIERRA_RUN"';
    const slow = `${count}; until [ -f "$SIERRA_BATCH_ROOT/go" ]; do sleep 0.1; done`;
    const root = makeBatch({ a: [...Array(6).fill(count), slow, slow] });
    const marker = newMarker();
    const cli = sierra(["--batch-root", root, "--exec-jobs-per-node", "2"], { marker });
    await waitFor(() => existsSync(path.join(root, "count-7")), "the slow runs to start");
    // The fast runs have ended; their records are written as the CLI learns it (later under load).
    await waitFor(() => readRecords(root).length === 6, "the fast runs' 6 records");
    cli.kill("SIGKILL");
    await cli;
    // The launcher notices its CLI is gone and stops the runs.
    await waitFor(() => processesWith(marker).length === 0, "the runs to be stopped", 10_000);

    // A record torn by a crash in the middle of a write.
    appendFileSync(path.join(root, "statistics/exec/runs.jsonl"), '{"exp":"a","run":6,"comm');
    writeFileSync(path.join(root, "go"), "");
    const resumed = await sierra(["--batch-root", root, "--exec-resume"]);
    expect(resumed.exitCode).toBe(0);
    expect(resumed.stderr).toMatch(/6 runs succeeded before/);

    for (let run = 0; run < 8; run++) {
      const executions = readFileSync(path.join(root, `count-${run}`), "utf8").length / 2;
      expect(executions, `executions of run ${run}`).toBe(run < 6 ? 1 : 2);
    }
    const records = readRecords(root);
    expect(records.map((r) => r.run).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(records.every((r) => r.exitCode === 0 && r.attempt === 1)).toBe(true);
    await sleep(0);
  });
});

describe("a run's daemon that left its process group and session", () => {
  // `setsid` puts the daemon in a session of its own: stopping the run's process group misses it.
  const daemon =
    'setsid sleep 300 < /dev/null > /dev/null 2>&1 & touch "$SIERRA_BATCH_ROOT/started-$SIERRA_RUN"';
  const daemons = (marker: string) => commandsWith(marker).filter((command) => command === "sleep 300");

  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)("does not outlive %s", async (signal, status) => {
    const root = makeBatch({ a: [`${daemon}; sleep 60`, `${daemon}; sleep 60`] });
    const marker = newMarker();
    const cli = sierra(["--batch-root", root, "--exec-jobs-per-node", "2"], { marker });
    await waitFor(() => daemons(marker).length === 2, "the daemons to start");
    cli.kill(signal);
    expect((await cli).exitCode).toBe(status);
    expect(processesWith(marker)).toEqual([]);
  });

  it("does not outlive --exec-strict", async () => {
    const root = makeBatch({
      a: [
        `${daemon}; until [ -f "$SIERRA_BATCH_ROOT/started-1" ]; do sleep 0.05; done; exit 7`,
        `${daemon}; sleep 60`,
      ],
    });
    const marker = newMarker();
    const result = await sierra(["--batch-root", root, "--exec-jobs-per-node", "2", "--exec-strict"], {
      marker,
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/a\/run1 stopped \(strict\)/);
    expect(processesWith(marker)).toEqual([]);
  });

  it("does not outlive the end of the batch", async () => {
    const root = makeBatch({ a: [daemon] });
    const marker = newMarker();
    const result = await sierra(["--batch-root", root], { marker });
    expect(result.exitCode).toBe(0);
    expect(processesWith(marker)).toEqual([]);
  });
});
