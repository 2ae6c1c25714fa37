// Brings a fresh clone to a runnable state with nothing but Node.js and npm: pnpm at the
// version pinned in package.json (through npx), a frozen install, then a build.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const { packageManager } = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const bin = path.join(root, "node_modules", ".bin");
// An absolute bin directory first: turbo looks pnpm up on PATH and runs it in each
// package's directory, where the relative entry npx adds would point nowhere.
const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` };
const run = (file, args) =>
  execFileSync(file, args, { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] });

run("npx", ["--yes", packageManager, "install", "--frozen-lockfile", "--reporter=silent"]);
run(path.join(bin, "turbo"), ["run", "build", "--output-logs=errors-only"]);
