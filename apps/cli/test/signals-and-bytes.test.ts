// Through the built CLI on the local execenv: any signal that ends a run is recorded by
// bash's name and the batch goes on; cmdfile lines reach `bash -c` byte for byte; a line
// with a NUL byte is a usage error.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { execa, execaSync } from "execa";
import { describe, expect, it } from "vitest";
import { makeBatch, read, readRecords, SIERRA, sierra } from "./helpers.js";

/**
 * Signals that do not end a `bash -c` run: bash ignores QUIT; the default action of CHLD,
 * CONT, STOP, TSTP, TTIN, TTOU, URG and WINCH is not to end a process.
 */
const NOT_ENDING = new Set([3, 17, 18, 19, 20, 21, 22, 23, 28]);

const batchWithCmdfile = (content: Buffer) => makeBatch({ e: content });

describe("signals", () => {
  it("records any signal 1-64 that ends a run by the name bash gives it, and goes on", async () => {
    // 32 and 33 are glibc's own: no program can receive them (see contract.test.ts).
    const numbers = Array.from({ length: 64 }, (_, i) => i + 1).filter(
      (n) => !NOT_ENDING.has(n) && n !== 32 && n !== 33,
    );
    const bash = execaSync("bash", ["-c", `for n in ${numbers.join(" ")}; do kill -l $n; done`]);
    const expected = bash.stdout.split("\n").map((name) => `SIG${name}`);
    const lines = numbers.map((n) => `ulimit -c 0; kill -${n} $$`);
    const root = batchWithCmdfile(Buffer.from(`${[...lines, "echo after"].join("\n")}\n`));

    const result = await sierra(["--batch-root", root, "--exec-jobs-per-node", "4"]);
    expect(result.exitCode).toBe(1);
    const records = readRecords(root).sort((a, b) => a.run - b.run);
    expect(records.map((r) => [r.exitCode, r.signal])).toEqual([
      ...expected.map((name) => [null, name]),
      [0, null],
    ]);
    expect(expected).toEqual(expect.arrayContaining(["SIGRTMIN+1", "SIGRTMAX-1", "SIGRTMAX"]));
    expect(read(root, "scratch/e", `run${numbers.length}`, "stdout")).toBe("after\n");
    const joblogSignals = read(root, "scratch/joblog")
      .trim()
      .split("\n")
      .slice(1)
      .map((line) => line.split("\t"))
      .sort((a, b) => Number(a[0]) - Number(b[0]))
      .map((fields) => Number(fields[7]));
    expect(joblogSignals).toEqual([...numbers, 0]);
    expect(result.stderr).toMatch(/e\/run\d+ failed \(killed by SIGRTMIN\+1\)/);
  });
});

describe("cmdfile bytes", () => {
  const odd = Buffer.from([0xff, 0xe9, 0xe2, 0x82]);
  const line = Buffer.concat([Buffer.from("printf '%s' '"), odd, Buffer.from("' > out")]);

  it("runs each line's exact bytes, UTF-8 or not, and records it as text", async () => {
    const root = batchWithCmdfile(Buffer.concat([line, Buffer.from("\necho café > utf8\n")]));
    const result = await sierra(["--batch-root", root]);
    expect(result.exitCode).toBe(0);
    expect(readFileSync(path.join(root, "exp-inputs/e/out"))).toEqual(odd);
    expect(read(root, "exp-inputs/e/utf8")).toBe("café\n");
    const records = readRecords(root).sort((a, b) => a.run - b.run);
    expect(records.map((r) => r.command)).toEqual([
      "printf '%s' '\ufffd\ufffd\ufffd\ufffd' > out",
      "echo café > utf8",
    ]);
  });

  it("--dry-run prints each line's exact bytes", async () => {
    const root = batchWithCmdfile(Buffer.concat([line, Buffer.from("\n")]));
    const result = await execa(process.execPath, [SIERRA, "--batch-root", root, "--dry-run"], {
      encoding: "buffer",
      stripFinalNewline: false,
    });
    expect(Buffer.from(result.stdout)).toEqual(
      Buffer.concat([Buffer.from("e/run0\t"), line, Buffer.from("\n")]),
    );
  });

  it("a NUL byte in a line: status 2, one line naming the file and line, nothing run", async () => {
    const root = batchWithCmdfile(Buffer.from("touch ran\n\necho a\u0000b\n"));
    const result = await sierra(["--batch-root", root]);
    expect(result.exitCode).toBe(2);
    const cmdfile = path.join(root, "exp-inputs/e/commands.txt");
    expect(result.stderr).toBe(
      `sierra: error: ${cmdfile}, line 3: a NUL byte, which no command line can hold (bash -c would cut the line there): remove it`,
    );
    expect(existsSync(path.join(root, "exp-inputs/e/ran"))).toBe(false);
    expect(existsSync(path.join(root, "scratch"))).toBe(false);
    expect(existsSync(path.join(root, "statistics"))).toBe(false);
  });
});
