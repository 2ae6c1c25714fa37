// Runs a command as the benches time it: resolves to its wall time, exit status and output.
import { spawn } from "node:child_process";

export function timedRun(file, args, env = {}) {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      env: { ...process.env, CI: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("exit", (code) =>
      resolve({ code, output, seconds: Number(process.hrtime.bigint() - start) / 1e9 }),
    );
  });
}
