// Signal names as bash's `kill -l` gives them, both ways (records name, joblogs number).
import { execaSync } from "execa";
import { expect, it } from "vitest";
import { signalName, signalNumber } from "../src/signal-names.js";

it("names signals 1-64 as bash does, and numbers those names back", () => {
  const bash = execaSync("bash", [
    "-c",
    'for i in $(seq 1 64); do echo "$i $(kill -l $i 2>/dev/null)"; done',
  ]);
  for (const line of bash.stdout.split("\n")) {
    const [number, name] = line.split(" ");
    const expected = name ? `SIG${name}` : `SIG${number}`;
    expect(signalName(Number(number)), line).toBe(expected);
    expect(signalNumber(expected)).toBe(Number(number));
  }
});
