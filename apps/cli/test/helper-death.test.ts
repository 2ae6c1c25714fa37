// A helper process that dies mid-batch (the local run launcher, the batch's Prefect server or
// its waiting engine, the Prefect 1 agent), through the built CLI with the real processes killed: the
// batch goes on after a restart, or ends quickly with one line that quotes what died.
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { commandLine } from "@sierra-exec/execenv-testkit";
import { describe, expect, it } from "vitest";
import { makeBatch, newMarker, processesWith, read, readRecords, sierra, waitFor } from "./helpers.js";

const LONG = { timeout: 600_000 };

/** The pid of the batch's process whose command line matches `pattern`, once there is one. */
async function helperPid(marker: string, pattern: RegExp, what: string): Promise<number> {
  let pid: number | undefined;
  await waitFor(
    () => {
      pid = processesWith(marker).find((candidate) => pattern.test(commandLine(candidate)));
      return pid !== undefined;
    },
    what,
    300_000,
  );
  return pid as number;
}

/** The CLI on `root` with the per-exp paradigm, 2 jobs at once. */
const perExp = (execenv: string, root: string, marker: string) =>
  sierra(
    [
      `--execenv=${execenv}`,
      "--batch-root",
      root,
      "--exec-jobs-per-node",
      "2",
      "--exec-parallelism-paradigm",
      "per-exp",
    ],
    { marker, ...LONG },
  );

/** Each run appends its id to `ran`: a run executed twice shows up twice. */
const counted = (command: string) => `echo "$SIERRA_EXP/$SIERRA_RUN" >> "$SIERRA_BATCH_ROOT/ran"; ${command}`;
const ranLines = (root: string) => read(root, "ran").trim().split("\n").sort();

/** The run ids that the batch's drains wrote an end for. */
function endedInEvents(root: string): string[] {
  const prefect = path.join(root, "scratch", ".prefect");
  const [dir] = readdirSync(prefect);
  const events = path.join(prefect, dir as string, "work", "events");
  return readdirSync(events)
    .flatMap((file) => readFileSync(path.join(events, file), "utf8").split("\n"))
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { ended?: string })
    .flatMap((event) => (event.ended ? [event.ended] : []));
}

describe("a helper process that dies mid-batch", () => {
  it("local: the run launcher's death is one error line quoting the last line of its stderr", async () => {
    const bin = mkdtempSync(path.join(tmpdir(), "sierra-wrapper-"));
    const python = path.join(bin, "python");
    // The launcher's interpreter, saying something on stderr when the launcher dies.
    writeFileSync(
      python,
      '#!/bin/sh\npython3 "$@"\nstatus=$?\necho "wrapper: the launcher ended with status $status" >&2\nexit $status\n',
    );
    chmodSync(python, 0o755);
    const root = makeBatch({ a: ["sleep 0.5; kill -9 $PPID", "sleep 300"] });
    const marker = newMarker();
    const result = await sierra(["--batch-root", root, "--exec-jobs-per-node", "2", "--python", python], {
      marker,
    });
    expect(result.exitCode, result.stderr).toBe(2);
    const errors = result.stderr.split("\n").filter((line) => line.startsWith("sierra: error:"));
    expect(errors).toEqual([
      expect.stringMatching(
        /the run launcher exited unexpectedly \(status 137\): wrapper: the launcher ended with status 137$/,
      ),
    ]);
    expect(processesWith(marker)).toEqual([]);
  });

  it("prefect.localserver: kill -9 of its server is noticed, the server restarts on its port and database, the flow run goes on", async () => {
    const root = makeBatch({ a: Array.from({ length: 8 }, () => counted("sleep 3")) });
    const marker = newMarker();
    const cli = sierra(["--execenv=prefect.localserver", "--batch-root", root, "--exec-jobs-per-node", "2"], {
      marker,
      ...LONG,
    });
    const server = await helperPid(marker, /prefect server start/, "the Prefect server");
    await waitFor(() => existsSync(path.join(root, "ran")), "the first run", 300_000);
    process.kill(server, "SIGKILL");
    const result = await cli;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/warning: the Prefect server exited \(signal SIGKILL\)/);
    const port = /UI: http:\/\/127\.0\.0\.1:(\d+)/.exec(result.stderr)?.[1];
    expect(result.stderr).toMatch(/the Prefect server is back \(restarted in [\d.]+s\)/);
    // Nothing lost, nothing run twice.
    const records = readRecords(root);
    expect(records.map((record) => [record.run, record.exitCode]).sort()).toEqual(
      Array.from({ length: 8 }, (_, run) => [run, 0]).sort(),
    );
    expect(ranLines(root)).toEqual(Array.from({ length: 8 }, (_, run) => `a/${run}`).sort());
    // The new server served on the same port: the flow run finished in the batch's database.
    expect(result.stderr).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}/runs/flow-run/`));
    expect(result.stderr).toMatch(/flow run sierra-[\w-]+\/1: Completed/);
    expect(processesWith(marker)).toEqual([]);
  }, 900_000);

  it("prefect.localserver: when the server cannot come back (its port taken), exit 1 within 15 s, every finished run recorded", async () => {
    const root = makeBatch({ a: Array.from({ length: 8 }, () => counted("sleep 2")) });
    const marker = newMarker();
    const cli = sierra(
      ["--execenv=prefect.localserver", "--batch-root", root, "--exec-jobs-per-node", "2", "--verbose"],
      { marker, timeout: 120_000 },
    );
    const server = await helperPid(marker, /prefect server start/, "the Prefect server");
    const port = Number(/--port (\d+)/.exec(commandLine(server))?.[1]);
    const runsJsonl = path.join(root, "statistics/exec/runs.jsonl");
    await waitFor(
      () => existsSync(runsJsonl) && readFileSync(runsJsonl, "utf8").length > 0,
      "a finished run",
      300_000,
    );
    process.kill(server, "SIGKILL");
    const killedAt = Date.now();
    // Another program takes the port as soon as it is free, before the CLI looks again.
    let squatter: Server | undefined;
    for (let attempt = 0; !squatter && attempt < 1000; attempt++) {
      const probe = createServer();
      squatter = await new Promise<Server | undefined>((resolve) => {
        probe.once("error", () => resolve(undefined));
        probe.listen(port, "127.0.0.1", () => resolve(probe));
      });
      if (!squatter) await sleep(2);
    }
    expect(squatter, "the port of the killed server").toBeDefined();
    try {
      const result = await cli;
      expect(result.exitCode, result.stderr).toBe(1);
      expect(Date.now() - killedAt).toBeLessThan(15_000);
      expect(result.stderr).toMatch(
        new RegExp(
          `warning: the Prefect server exited \\(signal SIGKILL\\).*, and starting it again failed: its port ${port} is taken by another program`,
        ),
      );
      const recorded = readRecords(root).map((record) => `${record.exp}/run${record.run}`);
      expect(recorded.sort()).toEqual(endedInEvents(root).sort());
      expect(readRecords(root).filter((record) => record.exitCode === 0).length).toBeGreaterThan(0);
      expect(processesWith(marker)).toEqual([]);
    } finally {
      squatter?.close();
    }
  }, 900_000);

  it("prefect.localserver: kill -9 of its drain's engine: the drain's watchdog stops its runs, a new drain runs them again", async () => {
    const root = makeBatch({
      a: Array.from({ length: 4 }, () => counted("sleep 3")),
      b: Array.from({ length: 2 }, () => counted("true")),
    });
    const marker = newMarker();
    const cli = perExp("prefect.localserver", root, marker);
    await waitFor(
      () => existsSync(path.join(root, "ran")) && ranLines(root).length === 2,
      "the first two runs",
      300_000,
    );
    const engine = await helperPid(marker, /prefect\.engine/, "the drain's engine");
    process.kill(engine, "SIGKILL");
    const result = await cli;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      new RegExp(
        `warning: drain ${hostname()}-${engine}-\\w+ on host ${hostname()} .*: declared dead; its runs a/run0, a/run1 go to another drain`,
      ),
    );
    // One record per run, each a success of the second drain; the killed drain's two runs ran again.
    const records = readRecords(root);
    expect(records.map((record) => [record.exp, record.run, record.exitCode, record.host]).sort()).toEqual(
      [0, 1, 2, 3]
        .map((run) => ["a", run, 0, hostname()])
        .concat([0, 1].map((run) => ["b", run, 0, hostname()])),
    );
    expect(ranLines(root)).toEqual(["a/0", "a/0", "a/1", "a/1", "a/2", "a/3", "b/0", "b/1"]);
    expect(result.stderr).toMatch(/flow run sierra-[\w-]+\/2: Completed/);
    expect(processesWith(marker)).toEqual([]);
  }, 900_000);

  it("prefect.localserver: kill -9 of the engine waiting beside the booting server: another engine runs the flow run, every run exactly once", async () => {
    const root = makeBatch({
      a: Array.from({ length: 3 }, () => counted("true")),
      b: Array.from({ length: 2 }, () => counted("true")),
    });
    const marker = newMarker();
    const cli = perExp("prefect.localserver", root, marker);
    // It starts with the server and waits for the flow run, made only once the server is ready.
    const engine = await helperPid(marker, /prefect\.engine/, "the waiting engine");
    process.kill(engine, "SIGKILL");
    const result = await cli;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /warning: the Prefect engine exited \(signal SIGKILL\).*: starting another for flow run [\w-]+/,
    );
    expect(result.stderr).toMatch(/flow run sierra-[\w-]+\/1: Completed/);
    expect(result.stderr).not.toMatch(/declared dead|sierra-[\w-]+\/2/);
    expect(
      readRecords(root)
        .map((record) => [record.exp, record.run, record.exitCode])
        .sort(),
    ).toEqual([
      ["a", 0, 0],
      ["a", 1, 0],
      ["a", 2, 0],
      ["b", 0, 0],
      ["b", 1, 0],
    ]);
    expect(ranLines(root)).toEqual(["a/0", "a/1", "a/2", "b/0", "b/1"]);
    expect(processesWith(marker)).toEqual([]);
  }, 900_000);

  it.each([["prefect1.localagent", "agent", /prefect agent local start/, "the Prefect 1 agent"]])(
    "%s: kill -9 of its %s: a new one takes the next flow run, nothing lost or run twice",
    async (execenv, _helper, pattern, what) => {
      const root = makeBatch({
        a: Array.from({ length: 4 }, () => counted("sleep 2")),
        b: Array.from({ length: 3 }, () => counted("true")),
      });
      const marker = newMarker();
      const cli = perExp(execenv, root, marker);
      const helper = await helperPid(marker, pattern, what);
      await waitFor(() => existsSync(path.join(root, "ran")), "the first run", 300_000);
      process.kill(helper, "SIGKILL");
      const result = await cli;
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).toMatch(new RegExp(`warning: ${what} exited \\(signal SIGKILL\\)`));
      expect(result.stderr).toMatch(new RegExp(`${what} is back`));
      expect(readRecords(root)).toHaveLength(7);
      expect(ranLines(root)).toEqual(["a/0", "a/1", "a/2", "a/3", "b/0", "b/1", "b/2"]);
      expect(processesWith(marker)).toEqual([]);
    },
    900_000,
  );
});
