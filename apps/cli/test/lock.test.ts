// One batch at a time on a batch root: a second invocation is refused naming the holder,
// a lock whose holder is gone is taken over, and --dry-run needs no lock.
import { existsSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { LOCK_FILE } from "@sierra-exec/core";
import { describe, expect, it } from "vitest";
import { makeBatch, newMarker, processesWith, readRecords, sierra, waitFor } from "./helpers.js";

const count = 'echo x >> "$SIERRA_BATCH_ROOT/count-$SIERRA_RUN"';
const waitForGo = `${count}; until [ -f "$SIERRA_BATCH_ROOT/go" ]; do sleep 0.1; done`;
const lockOf = (root: string) => path.join(root, LOCK_FILE);
const executions = (root: string, run: number) =>
  readFileSync(path.join(root, `count-${run}`), "utf8").length / 2;

describe("the batch root lock", () => {
  it("refuses a second invocation with one line naming the holder; the first loses nothing", async () => {
    const root = makeBatch({ a: [waitForGo, count, count, count] });
    const first = sierra(["--batch-root", root, "--exec-jobs-per-node", "2"]);
    await waitFor(() => existsSync(path.join(root, "count-0")), "the first batch to start");

    const second = await sierra(["--batch-root", root, "--exec-jobs-per-node", "2"]);
    expect(second.exitCode).toBe(2);
    expect(second.stderr.split("\n")).toHaveLength(1);
    expect(second.stderr).toMatch(
      new RegExp(
        `^sierra: error: batch root .* is in use by another sierra \\(pid ${first.pid} on ${hostname()}, since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\)`,
      ),
    );
    // --dry-run reads the batch and needs no lock.
    const dry = await sierra(["--batch-root", root, "--dry-run"]);
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout.split("\n").filter(Boolean)).toHaveLength(4);

    writeFileSync(path.join(root, "go"), "");
    expect((await first).exitCode).toBe(0);
    for (let run = 0; run < 4; run++) expect(executions(root, run)).toBe(1);
    expect(readRecords(root)).toHaveLength(4);
    expect(existsSync(lockOf(root))).toBe(false);
  });

  it("takes over the lock of a CLI killed with SIGKILL", async () => {
    const root = makeBatch({ a: [count, waitForGo] });
    const marker = newMarker();
    const cli = sierra(["--batch-root", root, "--exec-jobs-per-node", "2"], { marker });
    await waitFor(() => existsSync(path.join(root, "count-1")), "the batch to start");
    // Run 0 has ended once its record is written: then a resume must not run it again.
    await waitFor(
      () => existsSync(path.join(root, "statistics/exec/runs.jsonl")) && readRecords(root).length === 1,
      "run 0's record",
    );
    cli.kill("SIGKILL");
    await cli;
    await waitFor(() => processesWith(marker).length === 0, "the runs to be stopped", 10_000);
    expect(JSON.parse(readFileSync(lockOf(root), "utf8")).pid).toBe(cli.pid);

    writeFileSync(path.join(root, "go"), "");
    const resumed = await sierra(["--batch-root", root, "--exec-resume"]);
    expect(resumed.exitCode).toBe(0);
    expect(resumed.stderr).toMatch(
      new RegExp(`took over the lock of .*: its holder \\(pid ${cli.pid} on .*\\) is gone`),
    );
    expect(executions(root, 0)).toBe(1);
  });

  it("takes over a lock left by a reboot or by another host that stopped touching it, not a fresh one", async () => {
    const root = makeBatch({ a: ["true"] });
    const since = new Date().toISOString();
    // A holder on this host before a reboot: another boot id.
    const rebooted = { pid: process.pid, host: hostname(), since, bootId: "not-this-boot", startTime: null };
    writeFileSync(lockOf(root), JSON.stringify(rebooted));
    const afterReboot = await sierra(["--batch-root", root]);
    expect(afterReboot.stderr).toMatch(/is gone \(this host rebooted since\)/);
    expect(afterReboot.exitCode).toBe(0);

    // A holder on another host: alive while it touches the file.
    const remote = { pid: 4242, host: "elsewhere.invalid", since, bootId: null, startTime: null };
    writeFileSync(lockOf(root), JSON.stringify(remote));
    const refused = await sierra(["--batch-root", root]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/in use by another sierra \(pid 4242 on elsewhere\.invalid, since /);
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(lockOf(root), old, old);
    const taken = await sierra(["--batch-root", root]);
    expect(taken.exitCode).toBe(0);
    expect(taken.stderr).toMatch(/pid 4242 on elsewhere\.invalid\) is gone \(untouched for 60 s\)/);
  });
});
