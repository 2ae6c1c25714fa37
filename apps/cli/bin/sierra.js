#!/usr/bin/env node
// The `sierra` executable. A file of its own outside dist/: package managers link a bin
// only if its target exists at install time, and in a fresh clone dist/ is built after.
import { existsSync } from "node:fs";

const built = new URL("../dist/bin.js", import.meta.url);
if (!existsSync(built)) {
  process.stderr.write("sierra: error: the CLI is not built yet: run `npm run setup` in the repository\n");
  process.exit(2);
}
await import(built.href);
