// The backend's decisions, without a Prefect server: each process's environment, the REST
// payloads, the flow's parameters, how states and run events become outcomes.
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Run } from "@sierra-exec/core";
import { CORE_PYTHON_DIR, EXECUTION_MARKER, RESTORE_ENV } from "@sierra-exec/core";
import { describe, expect, it } from "vitest";
import { outcomeOf, parseEvents } from "../src/drain-events.js";
import { drainParameters } from "../src/drains.js";
import { prefectEnv } from "../src/prefect-env.js";
import {
  activePython,
  inTestedRange,
  PREFECT_SPEC,
  prefectOnPath,
  prefectSpec,
  TESTED_PREFECTS,
} from "../src/prefect-install.js";
import { deploymentPayload, FLOW_DIR, workPoolPayload } from "../src/setup-api.js";
import { describeState, isTerminal } from "../src/states.js";
import { setContent } from "../src/work-dir.js";

const isolation = {
  home: "/b/scratch/.prefect/x/home",
  database: "/b/scratch/.prefect/x/prefect.db",
  apiUrl: "http://127.0.0.1:4321/api",
  executionId: "sierra-1-ab",
};

const run = (exp: string, index: number): Run => ({
  id: `${exp}/run${index}`,
  exp,
  index,
  seq: index + 1,
  command: `echo ${index}`,
  cwd: `/b/exp-inputs/${exp}`,
  env: { SIERRA_EXP: exp, SIERRA_RUN: String(index) },
  stdout: `/b/scratch/${exp}/run${index}/stdout`,
  stderr: null,
});

describe("process environments", () => {
  const caller = {
    PATH: "/usr/bin",
    HOME: "/home/u",
    PREFECT_API_URL: "http://cloud",
    PREFECT_PROFILE: "mine",
  };

  it("replace every PREFECT_* of the caller with the batch's isolation, and mark the process", () => {
    const env = prefectEnv(caller, isolation, "server");
    expect(env).toMatchObject({
      PATH: "/usr/bin",
      HOME: "/home/u",
      PREFECT_HOME: isolation.home,
      PREFECT_API_URL: isolation.apiUrl,
      PREFECT_API_DATABASE_CONNECTION_URL: `sqlite+aiosqlite:///${isolation.database}`,
      PREFECT_SERVER_ANALYTICS_ENABLED: "false",
      DO_NOT_TRACK: "1",
      [EXECUTION_MARKER]: "sierra-1-ab",
    });
    expect(env.PREFECT_PROFILE).toBeUndefined();
    expect(env.PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_CANCELLING_TIMEOUT_SECONDS).toBe("30");
    expect(env.PREFECT_WORKER_QUERY_SECONDS).toBeUndefined();
  });

  it("carry what the runs need to get the caller's environment back", () => {
    const env = prefectEnv(caller, isolation, "engine");
    expect(env.SIERRA_CORE_PYTHON).toBe(CORE_PYTHON_DIR);
    expect(JSON.parse(env[RESTORE_ENV] as string)).toEqual({
      prefix: "PREFECT_",
      caller: {
        PREFECT_API_URL: "http://cloud",
        PREFECT_PROFILE: "mine",
        DO_NOT_TRACK: null,
        PYTHONDONTWRITEBYTECODE: null,
        SIERRA_CORE_PYTHON: null,
      },
    });
    // A caller's own DO_NOT_TRACK is the caller's: the runs keep it.
    const own = prefectEnv({ ...caller, DO_NOT_TRACK: "0" }, isolation, "engine");
    expect(JSON.parse(own[RESTORE_ENV] as string).caller.DO_NOT_TRACK).toBe("0");
  });
});

describe("set-up payloads", () => {
  it("a process work pool with the embedded base job template", () => {
    const pool = workPoolPayload("p");
    expect(pool).toMatchObject({ name: "p", type: "process" });
    expect(pool.base_job_template).toHaveProperty("job_configuration.command", "{{ command }}");
  });

  it("a deployment that runs the shipped flow in place, with the workers' job variables given", () => {
    const payload = deploymentPayload({ flowId: "f", pool: "p", queue: "q" });
    expect(payload).toMatchObject({
      name: "local",
      flow_id: "f",
      entrypoint: "flow.py:sierra",
      work_pool_name: "p",
      work_queue_name: "q",
      enforce_parameter_schema: true,
      pull_steps: [{ "prefect.deployments.steps.set_working_directory": { directory: FLOW_DIR } }],
      job_variables: {},
    });
    expect(FLOW_DIR).toMatch(/prefect3\/python$/);
    const forWorkers = deploymentPayload({
      flowId: "f",
      pool: "p",
      queue: null,
      flowDir: "/shared/flow",
      jobVariables: { working_dir: "/shared/flow" },
    });
    expect(forWorkers).toMatchObject({
      work_queue_name: null,
      job_variables: { working_dir: "/shared/flow" },
      pull_steps: [{ "prefect.deployments.steps.set_working_directory": { directory: "/shared/flow" } }],
    });
  });
});

describe("drain flow runs", () => {
  it("pass the batch settings, and each set's runs by reference: command, cwd, environment, output files", () => {
    const parameters = drainParameters({
      workDir: "/b/scratch/.prefect/x/work",
      executionId: "sierra-1-ab",
      jobs: 3,
      totalJobs: 0,
      killGrace: 2,
      strict: true,
    });
    expect(parameters).toEqual({
      work_dir: "/b/scratch/.prefect/x/work",
      jobs: 3,
      kill_grace_s: 2,
      strict: true,
      total_jobs: 0,
      execution_id: "sierra-1-ab",
    });
    expect(JSON.parse(setContent([run("a", 0)]))).toEqual([
      {
        id: "a/run0",
        commandBase64: Buffer.from("echo 0").toString("base64"),
        cwd: "/b/exp-inputs/a",
        env: { SIERRA_EXP: "a", SIERRA_RUN: "0" },
        stdout: "/b/scratch/a/run0/stdout",
        stderr: null,
        seq: 1,
      },
    ]);
  });
});

describe("states and run events", () => {
  it("terminal states", () => {
    expect(["COMPLETED", "FAILED", "CANCELLED", "CRASHED"].every((type) => isTerminal(type as never))).toBe(
      true,
    );
    expect(isTerminal("CANCELLING")).toBe(false);
    expect(isTerminal(undefined)).toBe(false);
  });

  it("an end event is the run's exact outcome, on the host of its drain", () => {
    const ended = {
      ended: "a/run0",
      set: 1,
      index: 0,
      code: null,
      signal: "SIGKILL",
      startedAt: 10,
      at: 12.5,
    };
    expect(outcomeOf(ended, "node2")).toEqual({
      exitCode: null,
      signal: "SIGKILL",
      startedAt: new Date(10_000),
      finishedAt: new Date(12_500),
      host: "node2",
    });
    expect(
      describeState({
        state_type: "FAILED",
        state_name: "Failed",
        state: { message: "1/2 runs failed" } as never,
      }),
    ).toBe("Failed (1/2 runs failed)");
  });

  it("skips an events line that does not parse and reads on", () => {
    const skipped: string[] = [];
    const { events, rest } = parseEvents('{"heartbeat":1}\n{"sta\u0000\n{"bye":2}\n{"hea', (line) =>
      skipped.push(line),
    );
    expect(events).toEqual([{ heartbeat: 1 }, { bye: 2 }]);
    expect(skipped).toEqual(['{"sta\u0000']);
    expect(rest).toBe('{"hea');
  });
});

describe("finding Prefect", () => {
  it("reads the interpreter of the prefect script on PATH", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "path-"));
    writeFileSync(path.join(dir, "prefect"), "#!/opt/venv/bin/python3.11\nimport prefect\n");
    chmodSync(path.join(dir, "prefect"), 0o755);
    expect(prefectOnPath({ PATH: `/nonexistent:${dir}` })).toBe("/opt/venv/bin/python3.11");
    expect(prefectOnPath({ PATH: "/nonexistent" })).toBeUndefined();
  });

  it("provisions the newest tested Prefect with the fastapi its server needs, in a venv named after it", () => {
    expect(PREFECT_SPEC).toEqual({
      name: "prefect-3.9.1",
      requirements: ["prefect==3.9.1"],
      constraints: "fastapi==0.150.0\n",
    });
    expect(prefectSpec("3.8.8").constraints).toBe("fastapi==0.154.0\n");
  });

  it("uses a user's Prefect only inside the tested range, pre-releases excluded", () => {
    for (const version of ["3.8.8", "3.9.0", "3.9.1", "3.9.12", "3.9.2.post1"])
      expect(inTestedRange(version)).toBe(true);
    for (const version of [
      "3.8.7",
      "3.7.0",
      "3.10.0",
      "3.10.0rc1",
      "3.9.2.dev1",
      "3.8.8rc1",
      "2.20.0",
      "4.0.0",
    ])
      expect(inTestedRange(version)).toBe(false);
    // Every tested version is inside the range it advertises.
    for (const version of Object.keys(TESTED_PREFECTS)) expect(inTestedRange(version)).toBe(true);
  });

  it("takes the active Python from VIRTUAL_ENV, else python3 on PATH", () => {
    expect(activePython({ VIRTUAL_ENV: "/home/u/venv" })).toBe("/home/u/venv/bin/python");
    expect(activePython({})).toBe("python3");
  });
});
