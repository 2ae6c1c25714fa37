// The Prefect 1 installation a batch runs on: the user's (--prefect1-python), or Prefect
// 1.4.1 provisioned once into a managed venv with the pins that make it work on Python 3.11+.
import { readFileSync } from "node:fs";
import { ensurePythonEnv, type Logger, lastLine, SierraError } from "@sierra-exec/core";

export const PYTHON_DIR = new URL("../python/", import.meta.url).pathname;
const script = (name: string) => `${PYTHON_DIR}${name}`;

export const PREFECT1_REQUIREMENT = "prefect==1.4.1";

export interface PythonChoice {
  prefect1Python?: string | undefined;
  python: string;
}

/** The interpreter to run Prefect 1 with; provisions the managed venv when none is given. */
export async function findPrefect1(
  choice: PythonChoice,
  { log, signal }: { log: Logger; signal: AbortSignal },
): Promise<string> {
  if (choice.prefect1Python) return choice.prefect1Python;
  const env = await ensurePythonEnv(
    {
      name: "prefect1",
      requirements: [PREFECT1_REQUIREMENT],
      constraints: readFileSync(script("constraints.txt"), "utf8"),
      python: choice.python,
    },
    { log, signal },
  );
  return env.python;
}

/** Throws a one-line SierraError unless `python` runs a working Prefect 1. */
export async function probePrefect1(python: string, provisioned: boolean): Promise<string> {
  const { execa } = await import("execa");
  const probe = await execa(python, [script("probe.py")], { reject: false, all: true });
  const said = lastLine(probe.all ?? "");
  if (probe.exitCode === 0) return said;
  const problem =
    probe.failed && probe.exitCode === undefined ? (probe.shortMessage ?? "").split("\n")[0] : said;
  const fix = provisioned
    ? "delete that venv under the sierra-exec cache directory so that it is provisioned again"
    : `install ${PREFECT1_REQUIREMENT} there, or leave out --prefect1-python to have it provisioned`;
  throw new SierraError(`Prefect 1 is not usable with ${python} (${problem}): ${fix}`);
}
