// Brings a fresh clone to a runnable state with nothing but Node.js and npm:
// pnpm at the version pinned in package.json (via npx), a frozen install, a build.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const root = new URL("..", import.meta.url);
const { packageManager } = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));
const pnpm = (...args) =>
  execFileSync("npx", ["--yes", packageManager, ...args], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  });

pnpm("install", "--frozen-lockfile", "--reporter=silent");
// Through the root `build` script, not `pnpm exec turbo`: `pnpm exec` puts a relative
// `./node_modules/.bin` first on PATH, and turbo then cannot spawn pnpm in package
// directories (every cache miss failed).
pnpm("run", "build", "--output-logs=errors-only");
