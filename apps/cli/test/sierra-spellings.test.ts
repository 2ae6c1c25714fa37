// SIERRA's stage-2 spellings through the real CLI: accepted, never a failure.
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeBatch, sierra } from "./helpers.js";

describe("SIERRA's spellings", () => {
  it("--exec-no-devnull keeps outputs; the last of --exec-devnull/--exec-no-devnull wins, as in SIERRA", async () => {
    const kept = makeBatch({ e: ["echo hi"] });
    expect((await sierra(["--batch-root", kept, "--exec-devnull", "--exec-no-devnull"])).exitCode).toBe(0);
    expect(existsSync(path.join(kept, "scratch/e/run0/stdout"))).toBe(true);
    const dropped = makeBatch({ e: ["echo hi"] });
    expect((await sierra(["--batch-root", dropped, "--no-exec-devnull", "--exec-devnull"])).exitCode).toBe(0);
    expect(existsSync(path.join(dropped, "scratch/e/run0/stdout"))).toBe(false);
  });

  it("--nodefile on an execenv without nodes: a note, and the batch runs", async () => {
    const root = makeBatch({ e: ["true"] });
    const result = await sierra(["--batch-root", root, "--nodefile", "/etc/hosts"]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("sierra: note: --nodefile /etc/hosts is not used: execenv local");
    expect((await sierra(["--batch-root", root, "--nodefile=/etc/hosts", "--dry-run"])).exitCode).toBe(0);
  });

  it("sierra sierra-plugins prints the SIERRA plugin directory shipped in the package", async () => {
    const result = await sierra(["sierra-plugins"]);
    expect(result.exitCode).toBe(0);
    const dir = result.stdout.trim();
    expect(existsSync(path.join(dir, "sierra_exec/sierra_exec_bridge/.sierraplugin"))).toBe(true);
    const described = await sierra(["sierra-plugins", "--describe", "prefect.localserver"]);
    expect(JSON.parse(described.stdout).options.map((o: { flag: string }) => o.flag)).toContain(
      "--prefect-python",
    );
    const unknown = await sierra(["sierra-plugins", "--describe", "nope"]);
    expect(unknown.exitCode).toBe(2);
  });
});
