// Cmdfile lines as bytes: kept exactly (UTF-8 or not) for the runs, shown as text in records,
// and a NUL byte refused with the file and line.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { discoverBatch } from "../src/batch.js";
import { commandBytes, decodeCommand, displayCommand } from "../src/command-text.js";
import { SierraError } from "../src/errors.js";
import { runSpec } from "../src/python-runs.js";
import { batchRuns } from "../src/run.js";

const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part) : Buffer.from(part))));

function batchWithCmdfile(content: Buffer) {
  const root = mkdtempSync(path.join(tmpdir(), "core-bytes-"));
  mkdirSync(path.join(root, "exp-inputs", "e"), { recursive: true });
  writeFileSync(path.join(root, "exp-inputs", "e", "commands.txt"), content);
  return root;
}

describe("command text", () => {
  it("keeps valid UTF-8 as it is", () => {
    const line = bytes("echo café 😀 ✓");
    expect(decodeCommand(line)).toBe("echo café 😀 ✓");
    expect(commandBytes(decodeCommand(line))).toEqual(line);
  });

  it("keeps every other byte, as Python's surrogateescape does", () => {
    const odd = [
      [0xff],
      [0xe9, 0x20],
      [0xe2, 0x82, 0x41], // a truncated sequence
      [0xc0, 0xaf], // an overlong '/'
      [0xed, 0xa0, 0x80], // an encoded surrogate
      [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
      [0xf0, 0x90, 0x80, 0x80, 0x80], // a valid 4-byte sequence, then a stray continuation
    ];
    for (const sequence of odd) {
      const line = bytes("echo ", sequence, " é");
      const command = decodeCommand(line);
      expect(commandBytes(command)).toEqual(line);
      expect(displayCommand(command)).not.toMatch(/\p{Cs}/u);
    }
    expect(decodeCommand(bytes("a", [0xff], "b"))).toBe("a\udcffb");
    expect(decodeCommand(bytes([0xe2, 0x82, 0x41]))).toBe("\udce2\udc82A");
    expect(displayCommand("a\udcffb\udce9")).toBe("a\ufffdb\ufffd");
  });

  it("reads cmdfiles as bytes: each run's line exactly", () => {
    const root = batchWithCmdfile(bytes("printf '%s' ", [0xff, 0xe9], "\r\n# comment ", [0xfe], "\nnext\n"));
    const [experiment] = discoverBatch(root).experiments;
    expect(experiment?.commands.map(commandBytes)).toEqual([
      bytes("printf '%s' ", [0xff, 0xe9]),
      bytes("next"),
    ]);
  });

  it("hands each run's exact bytes to the Python side in base64", () => {
    const line = bytes("printf '%s' ", [0xff, 0xe9], " café");
    const [run] = batchRuns(discoverBatch(batchWithCmdfile(Buffer.concat([line, bytes("\n")]))), false);
    if (!run) throw new Error("no run");
    expect(Buffer.from(runSpec(run).commandBase64, "base64")).toEqual(line);
    expect(runSpec(run)).toMatchObject({ id: "e/run0", cwd: run.cwd, env: run.env, stdout: run.stdout });
  });

  it("refuses a NUL byte in a run's line, naming the file and the line", () => {
    const root = batchWithCmdfile(bytes("true\n# a comment\u0000 is no run\n\necho a", [0], "b\n"));
    const cmdfile = path.join(root, "exp-inputs", "e", "commands.txt");
    expect(() => discoverBatch(root)).toThrow(SierraError);
    expect(() => discoverBatch(root)).toThrow(new RegExp(`^${cmdfile}, line 4: a NUL byte`));
  });
});
