// Lints every Python file of the repository with ruff (default rules, ruff.toml), from a
// managed venv that core's ensurePythonEnv provisions once under the cache directory, as
// the execenvs provision Prefect: never the system Python's packages.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { ensurePythonEnv } from "../packages/core/dist/index.js";

const RUFF = "ruff==0.17.5";

const root = path.resolve(import.meta.dirname, "..");
const log = { info: console.error, warn: console.error, debug: () => {} };
const venv = await ensurePythonEnv({ name: "ruff", requirements: [RUFF] }, { log });
// `ruff check .` finds the Python files itself (honouring .gitignore): new ones need no line here.
const args = process.argv.length > 2 ? process.argv.slice(2) : ["check", "."];
const { status } = spawnSync(path.join(venv.bin, "ruff"), args, { cwd: root, stdio: "inherit" });
process.exit(status ?? 1);
