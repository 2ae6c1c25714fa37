// Progress as a user sees it: a live bar on a terminal (a real pseudo-terminal through
// util-linux `script`), plain lines otherwise.

import { commandLine } from "@sierra-exec/execenv-testkit";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { commandsWith, makeBatch, newMarker, processesWith, SIERRA, sierra, waitFor } from "./helpers.js";

describe("progress", () => {
  it("draws done/failed/running, elapsed and ETA on a terminal", async () => {
    const root = makeBatch({ e: [...Array(8).fill("sleep 0.3"), "exit 1"] });
    const command = `${process.execPath} ${SIERRA} --batch-root ${root} --exec-jobs-per-node 2`;
    const { CI: _, ...env } = process.env;
    const result = await execa("script", ["-qfec", command, "/dev/null"], {
      env,
      extendEnv: false,
      reject: false,
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/\d+\/9 done \| [01] failed \| [0-2] running \| \d+s \| ETA/);
    expect(result.stdout).toMatch(/9\/9 done \| 1 failed \| 0 running/);
  });

  it("drops the bar and its ETA once interrupted, and reports the runs as stopped", async () => {
    const root = makeBatch({ e: Array(6).fill("sleep 300") });
    const marker = newMarker();
    const command = `${process.execPath} ${SIERRA} --batch-root ${root} --exec-jobs-per-node 2`;
    const { CI: _, ...env } = process.env;
    const cli = execa("script", ["-qfec", command, "/dev/null"], {
      env: { ...env, SIERRA_TEST_MARKER: marker },
      extendEnv: false,
      reject: false,
    });
    const sierraPid = () =>
      processesWith(marker).find((pid) => commandLine(pid).startsWith(`${process.execPath} ${SIERRA}`));
    await waitFor(
      () => commandsWith(marker).filter((line) => line === "sleep 300").length === 2,
      "the runs to start",
    );
    process.kill(sierraPid() as number, "SIGINT");
    const result = await cli;
    expect(result.exitCode).toBe(130);
    const afterStop = result.stdout.slice(result.stdout.indexOf("SIGINT: stopping"));
    expect(afterStop).toMatch(/e\/run0 stopped \(SIGINT\)/);
    expect(afterStop).toMatch(/0 succeeded, 0 failed, 2 stopped \(SIGINT\), 4 not run/);
    expect(afterStop).not.toMatch(/ETA/);
  });

  it("prints plain lines when not on a terminal", async () => {
    const root = makeBatch({ e: ["true", "exit 1"] });
    const result = await sierra(["--batch-root", root, "--exec-jobs-per-node", "1"]);
    expect(result.stderr.split("\n")).toEqual([
      `sierra: execenv local, batch ${root}`,
      "sierra: 2 runs, 1 at a time",
      `sierra: e/run1 failed (exit 1), stderr: ${root}/scratch/e/run1/stderr`,
      expect.stringMatching(/^sierra: 1 succeeded, 1 failed, 0 not run, in \d+\.\ds$/),
      `sierra:   failed: e/run1 (exit 1) ${root}/scratch/e/run1/stderr`,
      "sierra: to run only what did not succeed: add --exec-resume",
    ]);
    expect(result.stderr.includes("\u001b[")).toBe(false);
  });
});
