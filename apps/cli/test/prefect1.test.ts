// The execution contract through the built CLI on the prefect1.localagent execenv: the real
// Prefect 1.4.1 agent and flow runner (provisioned once into the user's cache) against the
// embedded backend. Slow machines and concurrent test runs: waits are generous, assertions not.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  commandsWith,
  intervalOf,
  makeBatch,
  maxOverlap,
  newMarker,
  processesWith,
  read,
  readRecords,
  sierra,
  timedSleep,
  waitFor,
} from "./helpers.js";

const EXECENV = "--execenv=prefect1.localagent";
const prefect1 = (args: string[], settings: Parameters<typeof sierra>[1] = {}) =>
  sierra([EXECENV, ...args], { timeout: 150_000, ...settings });

// The first test may provision Prefect 1.4.1 (about 20 s).
describe("prefect1.localagent", { timeout: 180_000 }, () => {
  it("keeps the contract's outputs, records and environment, and leaves nothing behind", async () => {
    const root = makeBatch({
      a: [
        'echo "$SIERRA_EXP $SIERRA_RUN $SIERRA_BATCH_ROOT $(pwd) $CALLER_VAR $EXTRA $HOME"; echo err >&2',
        "exit 3",
      ],
      b: ["kill -TERM $$"],
    });
    const marker = newMarker();
    const options = ["--env=EXTRA=from-option", "--labels=lab", "--show-flow-logs"];
    const result = await prefect1([`--batch-root=${root}`, "--exec-jobs-per-node=2", ...options], {
      marker,
      env: { CALLER_VAR: "kept" },
    });
    expect(result.exitCode).toBe(1);
    expect(read(root, "scratch/a/run0/stdout").trim()).toBe(
      `a 0 ${root} ${path.join(root, "exp-inputs/a")} kept from-option ${process.env.HOME}`,
    );
    expect(result.stderr).toMatch(
      /prefect: .* Task 'a\/run1': Finished task run for task with final state: 'Failed'/,
    );
    expect(read(root, "scratch/a/run0/stderr")).toBe("err\n");
    const records = readRecords(root);
    const byId = Object.fromEntries(records.map((record) => [`${record.exp}/${record.run}`, record]));
    expect(Object.keys(byId).sort()).toEqual(["a/0", "a/1", "b/0"]);
    for (const record of records) {
      expect(record).toMatchObject({ execenv: "prefect1.localagent", attempt: 1 });
      expect(Date.parse(record.finishedAt) - Date.parse(record.startedAt)).toBe(record.durationMs);
    }
    expect(byId["a/0"]).toMatchObject({
      exitCode: 0,
      signal: null,
      stdout: path.join(root, "scratch/a/run0/stdout"),
    });
    expect(byId["a/1"]).toMatchObject({ exitCode: 3, signal: null });
    expect(byId["b/0"]).toMatchObject({ exitCode: null, signal: "SIGTERM" });
    expect(read(root, "scratch/joblog").trim().split("\n")).toHaveLength(4);
    expect(result.stderr).toMatch(/1 succeeded, 2 failed, 0 not run/);
    expect(processesWith(marker)).toEqual([]);
    // The batch's Prefect home, flows and temporary files are gone; the runs' outputs stay.
    expect(readdirSync(path.join(root, "scratch")).sort()).toEqual(["a", "b", "joblog"]);
  });

  it("runs exactly --exec-jobs-per-node at once, in batch order", async () => {
    const root = makeBatch({ e: Array(6).fill(timedSleep(1.5)) });
    const result = await prefect1([`--batch-root=${root}`, "--exec-jobs-per-node=3"]);
    expect(result.exitCode).toBe(0);
    const intervals = [0, 1, 2, 3, 4, 5].map((run) =>
      intervalOf(path.join(root, `scratch/e/run${run}/stdout`)),
    );
    expect(maxOverlap(intervals)).toBe(3);
    const starts = intervals.map(([start]) => start);
    expect(Math.max(...starts.slice(0, 3))).toBeLessThan(Math.min(...starts.slice(3)));
  });

  it("--exec-resume runs again only what did not succeed", async () => {
    const root = makeBatch({ e: ["true", 'test -f "$SIERRA_BATCH_ROOT/ok" || exit 4', "true"] });
    const first = await prefect1([`--batch-root=${root}`]);
    expect(first.exitCode).toBe(1);
    writeFileSync(path.join(root, "ok"), "");
    const resumed = await prefect1([`--batch-root=${root}`, "--exec-resume"]);
    expect(resumed.exitCode).toBe(0);
    expect(resumed.stderr).toMatch(/2 runs succeeded before/);
    // Records come in the order runs end; order them by attempt, then run.
    const records = readRecords(root).map((record) => [record.attempt, record.run, record.exitCode]);
    expect(
      records.sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number)),
    ).toEqual([
      [1, 0, 0],
      [1, 1, 4],
      [1, 2, 0],
      [2, 1, 0],
    ]);
  });

  it("--exec-strict: at the first failure no new run starts, the running one is stopped, exit 1", async () => {
    const started = (run: string) => `date +%s%N > "$SIERRA_BATCH_ROOT/started-${run}"`;
    const root = makeBatch({
      e: [
        `${started("0")}; sleep 0.5; exit 7`,
        `${started("1")}; sleep 300`,
        ...["2", "3", "4"].map((run) => `${started(run)}; true`),
      ],
    });
    const marker = newMarker();
    const result = await prefect1([`--batch-root=${root}`, "--exec-jobs-per-node=2", "--exec-strict"], {
      marker,
    });
    expect(result.exitCode).toBe(1);
    expect(readRecords(root).map((record) => [record.run, record.exitCode, record.signal])).toEqual([
      [0, 7, null],
      [1, null, "SIGTERM"],
    ]);
    expect(
      readdirSync(root)
        .filter((file) => file.startsWith("started-"))
        .sort(),
    ).toEqual(["started-0", "started-1"]);
    expect(result.stderr).toMatch(/stopped after e\/run0 failed \(--exec-strict\)/);
    expect(result.stderr).toMatch(/3 not run/);
    expect(processesWith(marker)).toEqual([]);
  });

  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)(
    "on %s stops the runs, the agent and its flow run, records them and exits %i",
    async (signal, status) => {
      const root = makeBatch({ e: ["sleep 300", 'trap "" TERM; sleep 300 & sleep 300; wait', "sleep 300"] });
      const marker = newMarker();
      const cli = prefect1([`--batch-root=${root}`, "--exec-jobs-per-node=2", "--kill-grace=1"], { marker });
      const sleeping = () => commandsWith(marker).filter((command) => command === "sleep 300").length;
      await waitFor(() => sleeping() === 3, "the runs to start", 120_000);
      const agent = commandsWith(marker).filter((command) => /prefect agent local start/.test(command));
      const flowRun = commandsWith(marker).filter((command) => /prefect execute flow-run/.test(command));
      expect([agent.length, flowRun.length]).toEqual([1, 1]);
      // As a user's kill would: execa's own kill adds a SIGKILL after 5 s, cutting the clean-up short.
      process.kill(cli.pid as number, signal);
      const result = await cli;
      expect(result.exitCode).toBe(status);
      expect(processesWith(marker)).toEqual([]);
      expect(readRecords(root).map((record) => [record.run, record.exitCode, record.signal])).toEqual([
        [0, null, "SIGTERM"],
        [1, null, "SIGKILL"],
      ]);
      expect(result.stderr).toMatch(
        new RegExp(`0 succeeded, 0 failed, 2 stopped \\(${signal}\\), 1 not run`),
      );
    },
  );

  it("a CLI killed with SIGKILL leaves nothing behind: the watchdog stops the agent and the runs", async () => {
    const root = makeBatch({ a: ["sleep 300", "sleep 300"] });
    const marker = newMarker();
    const cli = prefect1(["--batch-root", root, "--exec-jobs-per-node", "2"], { marker });
    await waitFor(
      () => commandsWith(marker).filter((command) => command === "sleep 300").length === 2,
      "the runs",
      150_000,
    );
    cli.kill("SIGKILL");
    await cli;
    await waitFor(() => processesWith(marker).length === 0, "the batch's processes to be gone", 60_000);
  });

  it("a Python without Prefect 1, or with a broken one, is an environment error: status 2, one line", async () => {
    const root = makeBatch({ e: ["true"] });
    const missing = await prefect1([`--batch-root=${root}`, "--prefect1-python=python3"]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(
        /^sierra: error: Prefect 1 is not usable with python3 \(ModuleNotFoundError: No module named 'prefect'\): install prefect==1.4.1 there/,
      ),
    ]);

    const broken = mkdtempSync(path.join(tmpdir(), "sierra-broken-"));
    mkdirSync(path.join(broken, "prefect"));
    writeFileSync(path.join(broken, "prefect", "__init__.py"), 'raise ImportError("half-installed")\n');
    const result = await prefect1([`--batch-root=${root}`, "--prefect1-python=python3"], {
      env: { PYTHONPATH: broken },
    });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/\(ImportError: half-installed\)/),
    ]);
    expect(existsSync(path.join(root, "statistics"))).toBe(false);
  });
});
