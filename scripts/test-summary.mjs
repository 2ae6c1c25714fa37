// Adds up the vitest results every package wrote (test-results.json) into one closing
// line, `tests: N passed, N failed`, so that a CI log states what ran.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const root = new URL("..", import.meta.url).pathname;
let passed = 0;
let failed = 0;
let skipped = 0;
for (const group of ["packages", "apps"]) {
  for (const name of readdirSync(path.join(root, group))) {
    const file = path.join(root, group, name, "test-results.json");
    if (!existsSync(file)) continue;
    const results = JSON.parse(readFileSync(file, "utf8"));
    passed += results.numPassedTests;
    failed += results.numFailedTests;
    skipped += results.numPendingTests + results.numTodoTests;
  }
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
