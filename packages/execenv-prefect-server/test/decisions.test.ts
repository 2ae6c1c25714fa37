// prefect.server's decisions without a server: options, credentials, names, the deployment's
// job variables, the runs' environment on worker hosts, how many drains to create.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseOptions, RESTORE_ENV_FILE } from "@sierra-exec/core";
import { describe, expect, it } from "vitest";
import { credentialsOf } from "../src/credentials.js";
import {
  BOUNCE_BUDGET_PER_WORKER,
  callerEnvFileContent,
  type DrainCensus,
  deploymentName,
  drainsToCreate,
  engineEnv,
  isCloudUrl,
  jobVariables,
  serverVersionVerdict,
  uiUrlOf,
} from "../src/decisions.js";
import { prefectServerOptionsSchema } from "../src/options.js";

describe("options", () => {
  it("default to SIERRA's pool, the caller's PREFECT_API_URL, no total cap", () => {
    const options = parseOptions(
      prefectServerOptionsSchema,
      {},
      { PREFECT_API_URL: "http://p.lab:4200/api" },
    );
    expect(options).toMatchObject({
      prefectApiUrl: "http://p.lab:4200/api",
      workPool: "sierra-pool",
      pickupTimeout: 60,
      drainTimeout: 20,
      python: "python3",
    });
    expect(options.totalJobs).toBeUndefined();
    expect(
      parseOptions(prefectServerOptionsSchema, { prefectApiUrl: "http://x/api" }, {}).prefectApiUrl,
    ).toBe("http://x/api");
  });

  it("refuse a bad URL, pool name or total cap in one line naming the flag", () => {
    expect(() => parseOptions(prefectServerOptionsSchema, { prefectApiUrl: "prefect.lab:4200" }, {})).toThrow(
      /^--prefect-api-url "prefect.lab:4200": must be an http\(s\) URL/,
    );
    expect(() => parseOptions(prefectServerOptionsSchema, { workPool: "a b" }, {})).toThrow(
      /^--work-pool "a b"/,
    );
    expect(() => parseOptions(prefectServerOptionsSchema, { totalJobs: "0" }, {})).toThrow(
      /^--total-jobs "0": must be at least 1/,
    );
  });
});

describe("credentials", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "pserver-cred-"));
  const file = (name: string, text: string) => {
    const full = path.join(dir, name);
    writeFileSync(full, text);
    return full;
  };

  it("become one Authorization header: basic auth from the auth string, Bearer from a Cloud key; a file first", () => {
    expect(credentialsOf({}, { PREFECT_API_AUTH_STRING: "admin:s3cret" })).toEqual({
      authorization: `Basic ${Buffer.from("admin:s3cret").toString("base64")}`,
      source: "PREFECT_API_AUTH_STRING",
    });
    expect(credentialsOf({}, { PREFECT_API_KEY: "pnu_abc" })).toEqual({
      authorization: "Bearer pnu_abc",
      source: "PREFECT_API_KEY",
    });
    const authFile = file("auth", "lab:from-file\n");
    expect(credentialsOf({ prefectApiAuthStringFile: authFile }, { PREFECT_API_AUTH_STRING: "x:y" })).toEqual(
      {
        authorization: `Basic ${Buffer.from("lab:from-file").toString("base64")}`,
        source: `--prefect-api-auth-string-file ${authFile}`,
      },
    );
    expect(credentialsOf({}, {})).toEqual({});
  });

  it("refuse an unreadable or empty file and two files, without showing a secret", () => {
    expect(() => credentialsOf({ prefectApiKeyFile: path.join(dir, "missing") }, {})).toThrow(
      /^--prefect-api-key-file .*missing: ENOENT/,
    );
    expect(() => credentialsOf({ prefectApiKeyFile: file("empty", "\n") }, {})).toThrow(/the file is empty/);
    const secret = file("k", "pnu_top_secret");
    let message = "";
    try {
      credentialsOf({ prefectApiKeyFile: secret, prefectApiAuthStringFile: secret }, {});
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/both given/);
    expect(message).not.toContain("pnu_top_secret");
  });
});

describe("what a batch creates on the shared server", () => {
  const owner = { user: "alice", host: "login-1.lab", executionId: "sierra-42-0a1b2c3d" };

  it("is named after the user, the host and the execution: two users' batches never share a name", () => {
    expect(deploymentName(owner)).toBe("alice@login-1.lab-sierra-42-0a1b2c3d");
    expect(deploymentName({ ...owner, user: "bob" })).not.toBe(deploymentName(owner));
    expect(deploymentName({ ...owner, user: "a/b c" })).toBe("a_b_c@login-1.lab-sierra-42-0a1b2c3d");
  });

  it("gives the engines the flow's copy in the batch root, no interpreter path and no marker", () => {
    const env = engineEnv({ flowDir: "/b/f", callerEnvFile: "/b/env.json" });
    expect(env).toEqual({
      SIERRA_CORE_PYTHON: "/b/f",
      [RESTORE_ENV_FILE]: "/b/env.json",
      PYTHONDONTWRITEBYTECODE: "1",
    });
    const variables = jobVariables(env, "/b/f");
    expect(variables).toEqual({ env, stream_output: false, working_dir: "/b/f" });
    expect(variables).not.toHaveProperty("command");
  });

  it("hands the runs the caller's environment without its Prefect secrets, and unsets what the engine adds", () => {
    const engine = engineEnv({ flowDir: "/b/f", callerEnvFile: "/b/env.json" });
    const content = JSON.parse(
      callerEnvFileContent(
        {
          PATH: "/usr/bin",
          MINE: "1",
          PREFECT_API_URL: "http://p/api",
          PREFECT_API_AUTH_STRING: "admin:s3cret",
          PREFECT_API_KEY: "pnu_x",
          PYTHONDONTWRITEBYTECODE: "0",
        },
        engine,
      ),
    );
    expect(content).toEqual({
      prefix: "PREFECT_",
      caller: {
        PATH: "/usr/bin",
        MINE: "1",
        PREFECT_API_URL: "http://p/api",
        PYTHONDONTWRITEBYTECODE: "0",
        SIERRA_CORE_PYTHON: null,
        [RESTORE_ENV_FILE]: null,
      },
    });
  });
});

describe("spreading: how many drains to create", () => {
  const census = (over: Partial<DrainCensus>): DrainCensus => ({
    onlineWorkers: 3,
    liveDrains: 0,
    servedHosts: 0,
    pendingDrains: 0,
    unclaimedRuns: 10,
    bounces: 0,
    created: 0,
    jobs: 2,
    totalJobs: 0,
    ...over,
  });

  it("one per online worker at first, one even with none online (a worker may come)", () => {
    expect(drainsToCreate(census({}))).toBe(3);
    expect(drainsToCreate(census({ onlineWorkers: 0 }))).toBe(1);
  });

  it("no more hosts than the runs can keep busy: the total cap, the waiting runs, over the per-host cap", () => {
    expect(drainsToCreate(census({ totalJobs: 2 }))).toBe(1);
    expect(drainsToCreate(census({ totalJobs: 3 }))).toBe(2);
    expect(drainsToCreate(census({ unclaimedRuns: 1 }))).toBe(1);
    expect(drainsToCreate(census({ unclaimedRuns: 4, jobs: 1 }))).toBe(3);
    // A total cap served by one host: no second one, however many workers wait.
    expect(drainsToCreate(census({ totalJobs: 2, created: 1, liveDrains: 1, servedHosts: 1 }))).toBe(0);
    // Runs waiting beyond what the served hosts run want more hosts, up to the workers.
    expect(
      drainsToCreate(census({ created: 4, liveDrains: 2, servedHosts: 2, bounces: 2, unclaimedRuns: 4 })),
    ).toBe(1);
  });

  it("one more per unserved host while runs wait: drains that bounced off a served host are replaced", () => {
    // 3 created, 2 landed on one host: 1 bounced, 2 hosts served, none waiting.
    expect(drainsToCreate(census({ created: 3, liveDrains: 2, servedHosts: 2, bounces: 1 }))).toBe(1);
    expect(drainsToCreate(census({ created: 3, liveDrains: 2, servedHosts: 2, pendingDrains: 1 }))).toBe(0);
    expect(drainsToCreate(census({ created: 3, liveDrains: 3, servedHosts: 3 }))).toBe(0);
    // Nothing waits: no more hosts needed.
    expect(drainsToCreate(census({ created: 3, liveDrains: 2, servedHosts: 2, unclaimedRuns: 0 }))).toBe(0);
  });

  it("stops asking once the bounce budget is spent, but never leaves waiting runs without any drain", () => {
    const spent = BOUNCE_BUDGET_PER_WORKER * 3;
    expect(drainsToCreate(census({ created: 12, liveDrains: 2, servedHosts: 2, bounces: spent }))).toBe(0);
    expect(drainsToCreate(census({ created: 12, liveDrains: 0, servedHosts: 0, bounces: spent }))).toBe(1);
    expect(drainsToCreate(census({ created: 12, liveDrains: 0, pendingDrains: 1, bounces: spent }))).toBe(0);
  });
});

describe("the server", () => {
  it("is told from Prefect Cloud by its host; its UI is found from its API URL", () => {
    const cloud = "https://api.prefect.cloud/api/accounts/a1/workspaces/w2";
    expect(isCloudUrl(cloud)).toBe(true);
    expect(isCloudUrl("http://prefect.lab:4200/api")).toBe(false);
    expect(uiUrlOf(cloud)).toBe("https://app.prefect.cloud/account/a1/workspace/w2");
    expect(uiUrlOf("http://prefect.lab:4200/api/")).toBe("http://prefect.lab:4200");
  });

  it("is tested in a range of Prefect 3 versions; Prefect 2 is refused", () => {
    expect(serverVersionVerdict("3.8.8")).toBe("ok");
    expect(serverVersionVerdict("3.9.1")).toBe("ok");
    expect(serverVersionVerdict("3.8.0")).toBe("untested");
    expect(serverVersionVerdict("3.10.0")).toBe("untested");
    expect(serverVersionVerdict("2.20.0")).toBe("unsupported");
  });
});
