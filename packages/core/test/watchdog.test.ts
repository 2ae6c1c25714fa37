// The watchdog runs the commands it was given when its CLI dies without dismissing it, and
// none when dismissed. The "CLI" here is a child Node process that starts a watchdog.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

const WATCHDOG = new URL("../dist/index.js", import.meta.url).pathname;

/** A process that starts a watchdog, gives it `touch <file>` for its death, then ends. */
const cli = (file: string, dismiss: boolean) => `
  const { Watchdog } = await import(${JSON.stringify(WATCHDOG)});
  const watchdog = await Watchdog.start("python3", "test-${Date.now()}", 1);
  watchdog.runOnDeath(["touch", ${JSON.stringify(file)}]);
  ${dismiss ? "await watchdog.dismiss();" : ""}
  process.exit(0);
`;

describe("Watchdog.runOnDeath", () => {
  it("runs the command once the CLI is gone without its own clean-up", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "watchdog-")), "ran");
    await execa(process.execPath, ["--input-type=module", "-e", cli(file, false)]);
    for (let i = 0; i < 100 && !existsSync(file); i += 1) await sleep(50);
    expect(existsSync(file)).toBe(true);
  });

  it("runs nothing once dismissed", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "watchdog-")), "ran");
    await execa(process.execPath, ["--input-type=module", "-e", cli(file, true)]);
    await sleep(1000);
    expect(existsSync(file)).toBe(false);
  });
});
