// Shared by the release scripts: the repository root, the pinned pnpm, the public workspace
// packages, and a way to run a command that fails with the command's own output.
import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** The pnpm pinned in the root package.json (a root devDependency). */
export const pnpmBin = fileURLToPath(new URL("../../node_modules/.bin/pnpm", import.meta.url));

/** Raised when a command exits non-zero; carries its output for the log. */
export class CommandError extends Error {
  constructor(command, result) {
    super(`${command} exited with ${result.code ?? result.signal}`);
    this.output = `${result.stdout}${result.stderr}`.trim();
  }
}

const running = new Set();

/**
 * Runs a command to completion in a process group of its own and resolves to its stdout;
 * rejects with CommandError.
 */
export function run(file, args, options = {}) {
  const command = [file, ...args].join(" ");
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { maxBuffer: 64 * 1024 * 1024, ...options, detached: true },
      (error, stdout, stderr) => {
        running.delete(child);
        if (error)
          reject(new CommandError(command, { code: error.code, signal: error.signal, stdout, stderr }));
        else resolve(stdout);
      },
    );
    running.add(child);
  });
}

/** Stops every command that `run` started and that is still running: TERM to its group, KILL after 3s. */
export async function stopRunning() {
  const groups = [...running].map((child) => -child.pid);
  const signalAll = (signal) => {
    for (const group of groups) {
      try {
        process.kill(group, signal);
      } catch {
        // the group is gone already
      }
    }
  };
  signalAll("SIGTERM");
  const deadline = Date.now() + 3_000;
  while (running.size > 0 && Date.now() < deadline) await sleep(100);
  signalAll("SIGKILL");
}

/** The workspace packages that get published: name, version and directory. */
export async function publicPackages(cwd = repoRoot) {
  const listing = JSON.parse(await run(pnpmBin, ["-r", "ls", "--depth", "-1", "--json"], { cwd }));
  return listing
    .filter((entry) => !entry.private)
    .map(({ name, version, path }) => ({ name, version, dir: path }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
