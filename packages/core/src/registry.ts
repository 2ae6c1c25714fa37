// The execenvs known by name and alias: the CLI registers its built-ins, and loadExecEnv
// adds the third-party execenv it loads (whose names must then be free).
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
          `execenv name ${name} of ${entry.packageName} is already taken by ${taken.packageName}: give it another name`,
        );
      }
    }
    this.entries.push(entry);
    return this;
  }

  find(name: string): RegisteredExecEnv | undefined {
    return this.entries.find(({ execenv }) => execenv.name === name || execenv.aliases?.includes(name));
  }

  list(): readonly RegisteredExecEnv[] {
    return this.entries;
  }
}
