// Finds the Python that hosts SIERRA, as the Prefect execenvs find Prefect: --sierra-python,
// else a `sierra` importable from the active Python (python3 on PATH), else a managed
// install of the tested version in the user's cache directory. (No environment variable:
// SIERRA_PYTHON is the local execenv's launcher Python.)
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { cacheDir, ensurePythonEnv, type Logger, type PythonEnvSpec, SierraError } from "@sierra-exec/core";
import { PREFECT_SPEC, PREFECT_VERSION } from "@sierra-exec/prefect3";

/** The SIERRA the plugin set is tested with. */
export const SIERRA_VERSION = "1.5.16";

/**
 * sierra-research 1.5.16 pins numpy<2 but not pyarrow (pyarrow 20 needs numpy 2); and it
 * wants Prefect unpinned: the Prefect our Prefect execenvs provision by default (and its
 * fastapi), so that SIERRA's prefectserver.local works in the same environment (with 3.8.8
 * and fastapi 0.154 its `prefect work-pool ls` fails, and it waits for the pool forever).
 */
export const SIERRA_SPEC: PythonEnvSpec = {
  name: "sierra",
  requirements: [`sierra-research==${SIERRA_VERSION}`, "pyarrow<20"],
  constraints: `prefect==${PREFECT_VERSION}\n${PREFECT_SPEC.constraints}`,
};

/** The SIERRA `python` can import, without importing it (that takes seconds). */
async function sierraVersion(python: string): Promise<string | undefined> {
  const probe = "import importlib.metadata as m; print(m.version('sierra-research'))";
  try {
    return (await promisify(execFile)(python, ["-c", probe], { timeout: 60_000 })).stdout.trim();
  } catch {
    return undefined;
  }
}

export async function findSierra(
  option: string | undefined,
  { log, signal, env }: { log: Logger; signal: AbortSignal; env: NodeJS.ProcessEnv },
): Promise<string> {
  if (option) {
    const version = await sierraVersion(option);
    if (!version) {
      throw new SierraError(
        `--sierra-python ${option} cannot import SIERRA: pass a Python with sierra-research installed, or leave it out to have SIERRA ${SIERRA_VERSION} installed in ${cacheDir(env)}`,
      );
    }
    if (version !== SIERRA_VERSION) log.warn(`SIERRA ${version} is untested; ${SIERRA_VERSION} is tested`);
    return option;
  }
  const active = await sierraVersion("python3");
  if (active) {
    if (active !== SIERRA_VERSION) log.warn(`SIERRA ${active} is untested; ${SIERRA_VERSION} is tested`);
    return "python3";
  }
  return (await ensurePythonEnv(SIERRA_SPEC, { log, signal, env })).python;
}
