// The credentials for the shared server: a self-hosted server's basic-auth string or a Prefect
// Cloud API key, from a file named by an option or from the environment (as Prefect's own
// client takes them). They become one Authorization header and go nowhere else: not into
// messages, records, flow-run parameters or the workers' job variables.
import { readFileSync } from "node:fs";
import { SierraError } from "@sierra-exec/core";
import type { PrefectServerOptions } from "./options.js";

export interface Credentials {
  /** The Authorization header's value, if the server wants one. */
  readonly authorization?: string;
  /** Where it came from, for messages: `PREFECT_API_AUTH_STRING`, `--prefect-api-key-file F`, ... */
  readonly source?: string;
}

const fromFile = (flag: string, file: string) => {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new SierraError(
      `${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}: name a readable file`,
    );
  }
  const secret = text.trim();
  if (!secret) throw new SierraError(`${flag} ${file}: the file is empty`);
  return secret;
};

const basic = (authString: string) => `Basic ${Buffer.from(authString).toString("base64")}`;

/**
 * The batch's credentials: a file option first, then PREFECT_API_AUTH_STRING, then
 * PREFECT_API_KEY (Prefect's client, given both, sends the basic-auth string too).
 */
export function credentialsOf(
  options: Pick<PrefectServerOptions, "prefectApiAuthStringFile" | "prefectApiKeyFile">,
  env: NodeJS.ProcessEnv = process.env,
): Credentials {
  const { prefectApiAuthStringFile: authFile, prefectApiKeyFile: keyFile } = options;
  if (authFile && keyFile) {
    throw new SierraError(
      "--prefect-api-auth-string-file and --prefect-api-key-file both given: pass the one your server uses (the auth string for a self-hosted server, the key for Prefect Cloud)",
    );
  }
  if (authFile) {
    const flag = "--prefect-api-auth-string-file";
    return { authorization: basic(fromFile(flag, authFile)), source: `${flag} ${authFile}` };
  }
  if (keyFile) {
    const flag = "--prefect-api-key-file";
    return { authorization: `Bearer ${fromFile(flag, keyFile)}`, source: `${flag} ${keyFile}` };
  }
  if (env.PREFECT_API_AUTH_STRING) {
    return { authorization: basic(env.PREFECT_API_AUTH_STRING), source: "PREFECT_API_AUTH_STRING" };
  }
  if (env.PREFECT_API_KEY)
    return { authorization: `Bearer ${env.PREFECT_API_KEY}`, source: "PREFECT_API_KEY" };
  return {};
}

/** The variables that carry secrets: never handed to workers or runs through the batch root. */
export const SECRET_VARIABLES = ["PREFECT_API_AUTH_STRING", "PREFECT_API_KEY"] as const;
