import { execFileSync } from "node:child_process";
import { expect, it } from "vitest";
import { shellQuote } from "../src/shell-quote.js";

it("quotes a word for a shell only where it must, and the shell reads it back whole", () => {
  expect(shellQuote("/usr/bin/python3")).toBe("/usr/bin/python3");
  expect(shellQuote("it's")).toBe(`'it'"'"'s'`);
  for (const word of ["/usr/bin/python3", "it's", "a b", "$HOME", "x'y\"z\\", ""]) {
    expect(execFileSync("sh", ["-c", `printf %s ${shellQuote(word)}`], { encoding: "utf8" })).toBe(word);
  }
});
