// A disk that fills during a batch: the batch stops as --exec-strict would (no new run,
// the running ones stopped), one line names the file and the error, exit 2; the records
// written before stay intact, and --exec-resume completes the batch once there is space,
// without running a recorded success again. On a real 64 KiB tmpfs.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeBatch, newMarker, processesWith, readRecords, sierra } from "./helpers.js";

const mountPoint = mkdtempSync(path.join(tmpdir(), "sierra-tmpfs-"));
let mounted = false;
let whyNot = "";
try {
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mountPoint], { stdio: "pipe" });
  mounted = true;
} catch (error) {
  whyNot = String((error as { stderr?: Buffer }).stderr ?? error).trim();
}

describe.skipIf(!mounted)(
  `a disk that fills during a batch${mounted ? "" : ` (skipped: cannot mount a tmpfs: ${whyNot})`}`,
  () => {
    const counts = mkdtempSync(path.join(tmpdir(), "sierra-counts-"));
    const count = `echo x >> ${counts}/count-$SIERRA_RUN`;
    // Run 3 fills the disk once, after the records of runs 0 and 1 are written; its record,
    // long because of its command, then finds no room.
    const recorded = `until [ "$(grep -c . "$SIERRA_BATCH_ROOT/statistics/exec/runs.jsonl")" -ge 2 ]; do sleep 0.05; done`;
    const fill = `${count}; ${recorded}; if [ ! -e ${counts}/filled ]; then touch ${counts}/filled; head -c 1M /dev/zero > "$SIERRA_BATCH_ROOT/fill"; fi; true # ${"x".repeat(5000)}`;
    let root = "";

    beforeAll(() => {
      // Run 2 is running when the disk fills; it sleeps only the first time.
      const slow = `${count}; [ -e ${counts}/resuming ] || sleep 30`;
      // Run 4 may start as run 3 ends, before the failure is noticed: it is stopped before it counts.
      const batch = makeBatch({ a: [count, count, slow, fill, `sleep 2; ${count}`] });
      root = path.join(mountPoint, "batch");
      mkdirSync(root);
      cpSync(path.join(batch, "exp-inputs"), path.join(root, "exp-inputs"), { recursive: true });
    });
    afterAll(() => {
      execFileSync("umount", [mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    });

    const executions = (run: number) =>
      existsSync(path.join(counts, `count-${run}`))
        ? readFileSync(path.join(counts, `count-${run}`), "utf8").length / 2
        : 0;

    it("stops with one line naming the file and ENOSPC, exit 2; earlier records intact; resume completes", async () => {
      const marker = newMarker();
      const result = await sierra(["--batch-root", root, "--exec-jobs-per-node", "2", "--exec-devnull"], {
        marker,
      });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).not.toMatch(/node:internal|\n\s+at /);
      const lines = result.stderr.split("\n").filter((line) => line.includes("ENOSPC"));
      expect(lines).toEqual([
        `sierra: error: cannot write ${root}/statistics/exec/runs.jsonl: ENOSPC (no space left on device)`,
      ]);
      expect(processesWith(marker)).toEqual([]);
      expect(result.stderr).toMatch(/a\/run2 stopped \(error\)/);
      // The running run was stopped; no run got to execute after the failure.
      expect(executions(2)).toBe(1);
      expect(executions(4)).toBe(0);
      expect(readRecords(root).map((record) => [record.run, record.exitCode])).toEqual([
        [0, 0],
        [1, 0],
      ]);

      rmSync(path.join(root, "fill"));
      writeFileSync(path.join(counts, "resuming"), "");
      const resumed = await sierra([
        "--batch-root",
        root,
        "--exec-jobs-per-node",
        "2",
        "--exec-devnull",
        "--exec-resume",
      ]);
      expect(resumed.stderr).toMatch(/2 runs succeeded before/);
      expect(resumed.exitCode).toBe(0);
      expect(executions(0)).toBe(1);
      expect(executions(1)).toBe(1);
      expect(executions(4)).toBe(1);
      const records = readRecords(root);
      expect(records.map((record) => record.run).sort()).toEqual([0, 1, 2, 3, 4]);
      expect(records.every((record) => record.exitCode === 0)).toBe(true);
    }, 60_000);
  },
);

describe("a run's output files that cannot be made", () => {
  it("stop the batch like a full disk: one line naming the path, exit 2, no new run", async () => {
    // Run 2 may start before the failure is noticed; it is stopped then, before it gets far.
    const root = makeBatch({ a: ["true", "true", 'sleep 20; touch "$SIERRA_BATCH_ROOT/ran-2"'] });
    // A file where run 1's output directory should be.
    mkdirSync(path.join(root, "scratch/a"), { recursive: true });
    writeFileSync(path.join(root, "scratch/a/run1"), "");
    const result = await sierra(["--batch-root", root, "--exec-jobs-per-node", "1"]);
    expect(result.exitCode).toBe(2);
    const lines = result.stderr.split("\n").filter((line) => line.includes("cannot write"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^sierra: error: cannot write ${root}/scratch/a/run1: EEXIST`));
    expect(existsSync(path.join(root, "ran-2"))).toBe(false);
    expect(readRecords(root).map((record) => record.run)).toEqual([0]);
  });
});
