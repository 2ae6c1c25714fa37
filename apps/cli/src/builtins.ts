// The execenvs that ship with the CLI, with their package names and versions for listings.
import { createRequire } from "node:module";
import { ExecEnvRegistry } from "@sierra-exec/core";
import local from "@sierra-exec/execenv-local";
import prefectLocal from "@sierra-exec/execenv-prefect-local";
import prefectServer from "@sierra-exec/execenv-prefect-server";
import prefect1 from "@sierra-exec/execenv-prefect1-agent";
import slurm from "@sierra-exec/execenv-slurm";

const require = createRequire(import.meta.url);
const versionOf = (packageName: string): string => require(`${packageName}/package.json`).version;

export function builtinRegistry(): ExecEnvRegistry {
  const registry = new ExecEnvRegistry();
  for (const [execenv, packageName] of [
    [local, "@sierra-exec/execenv-local"],
    [prefectLocal, "@sierra-exec/execenv-prefect-local"],
    [prefectServer, "@sierra-exec/execenv-prefect-server"],
    [prefect1, "@sierra-exec/execenv-prefect1-agent"],
    [slurm, "@sierra-exec/execenv-slurm"],
  ] as const) {
    registry.register({ execenv, packageName, version: versionOf(packageName) });
  }
  return registry;
}
