// Every process a test starts inherits SIERRA_TEST_SUITE; after each test, whatever is
// still alive with it is killed, so that a failing test cannot leave processes behind.
// (Tests that check clean-up assert on it themselves, before this runs.)
import { randomUUID } from "node:crypto";
import { markedProcesses } from "@sierra-exec/core";
import { afterEach } from "vitest";

const suite = `suite-${randomUUID()}`;
process.env.SIERRA_TEST_SUITE = suite;

afterEach(() => {
  for (const pid of markedProcesses("SIERRA_TEST_SUITE", suite)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});
