// Resolves `--execenv` names and aliases to plugins. Built-ins are registered by the CLI;
// third-party discovery adds to the same registry.
import { SierraError } from "./errors.js";
import type { ExecEnv } from "./exec-env.js";

export interface RegisteredExecEnv {
  execenv: ExecEnv;
  /** The npm package that provides it, and its version, for listings. */
  packageName: string;
  version: string;
}

export class ExecEnvRegistry {
  private readonly entries: RegisteredExecEnv[] = [];

  register(entry: RegisteredExecEnv): this {
    for (const name of [entry.execenv.name, ...(entry.execenv.aliases ?? [])]) {
      const taken = this.find(name);
      if (taken) {
        throw new SierraError(
          `execenv name ${name} of ${entry.packageName} is already taken by ${taken.packageName}`,
        );
      }
    }
    this.entries.push(entry);
    return this;
  }

  find(name: string): RegisteredExecEnv | undefined {
    return this.entries.find(({ execenv }) => execenv.name === name || execenv.aliases?.includes(name));
  }

  resolve(name: string): RegisteredExecEnv {
    const found = this.find(name);
    if (found) return found;
    throw new SierraError(
      `unknown execenv ${JSON.stringify(name)}: choose one of ${this.names().join(", ")} (see \`sierra execenvs\`)`,
    );
  }

  names(): string[] {
    return this.entries.map(({ execenv }) => execenv.name);
  }

  list(): readonly RegisteredExecEnv[] {
    return this.entries;
  }
}
