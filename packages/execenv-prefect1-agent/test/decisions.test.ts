// The plugin's decisions, without a backend or an agent: what it starts with which
// settings and environment, the flow it generates, and how task-run states become outcomes.
import {
  CORE_PYTHON_DIR,
  EXECUTION_MARKER,
  parseOptions,
  RESTORE_ENV,
  type Run,
  SierraError,
} from "@sierra-exec/core";
import { describe, expect, it } from "vitest";
import { agentArgs } from "../src/agent.js";
import { flowFiles, slugOf } from "../src/flow-spec.js";
import { checkOptions, prefect1OptionsSchema } from "../src/options.js";
import { OUTCOME_PREFIX, viewTaskRun } from "../src/outcomes.js";
import { batchDirs, prefectEnv } from "../src/prefect-env.js";

const run = (index: number, extra: Partial<Run> = {}): Run => ({
  id: `e/run${index}`,
  exp: "e",
  index,
  seq: index + 1,
  command: `echo "it's" ${index}`,
  cwd: "/b/exp-inputs/e",
  env: { SIERRA_BATCH_ROOT: "/b", SIERRA_EXP: "e", SIERRA_RUN: String(index) },
  stdout: `/b/scratch/e/run${index}/stdout`,
  stderr: `/b/scratch/e/run${index}/stderr`,
  ...extra,
});

describe("options", () => {
  const parse = (raw: Record<string, unknown>, env = {}) => parseOptions(prefect1OptionsSchema, raw, env);

  it("splits lists and KEY=VALUE pairs", () => {
    expect(parse({ labels: "gpu, big", env: "A=1,B=x=y", importPaths: "/a:/b" })).toMatchObject({
      labels: ["gpu", "big"],
      env: { A: "1", B: "x=y" },
      importPaths: ["/a", "/b"],
    });
    expect(parse({}, { SIERRA_PREFECT1_API: "http://127.0.0.1:4200/graphql" }).prefect1Api).toBe(
      "http://127.0.0.1:4200/graphql",
    );
  });

  it("rejects bad values with one line naming the flag", () => {
    expect(() => parse({ env: "nope" })).toThrow('--env "nope": must be KEY=VALUE pairs separated by commas');
    expect(() => parse({ prefect1Api: "ftp://x" })).toThrow(/--prefect1-api "ftp:\/\/x": must be the http/);
  });

  it("--agent-running needs the server and the labels of that agent, and no agent-start options", () => {
    expect(() => checkOptions(parse({ agentRunning: true }))).toThrow(SierraError);
    expect(() =>
      checkOptions(
        parse({ agentRunning: true, prefect1Api: "http://h/graphql", labels: "x", showFlowLogs: true }),
      ),
    ).toThrow(/set them on your running agent/);
    expect(() =>
      checkOptions(parse({ agentRunning: true, prefect1Api: "http://h/graphql", labels: "x" })),
    ).not.toThrow();
  });
});

describe("isolation", () => {
  const dirs = batchDirs("/b", "sierra-1-ab");

  it("keeps everything of a batch under its scratch area", () => {
    expect(dirs).toEqual({
      root: "/b/scratch/.prefect1-sierra-1-ab",
      home: "/b/scratch/.prefect1-sierra-1-ab/home",
      tmp: "/b/scratch/.prefect1-sierra-1-ab/tmp",
      flows: "/b/scratch/.prefect1-sierra-1-ab/flows",
      pids: "/b/scratch/.prefect1-sierra-1-ab/pids",
    });
  });

  it("gives Prefect a private home and the backend, drops the caller's PREFECT__ settings and says how to restore them", () => {
    const env = prefectEnv(
      { PATH: "/bin", HOME: "/home/u", PREFECT__CLOUD__API_KEY: "k", PREFECT__BACKEND: "cloud" },
      dirs,
      "http://127.0.0.1:5/graphql",
      "sierra-1-ab",
    );
    expect(env).toMatchObject({
      PATH: "/bin",
      HOME: dirs.home,
      TMPDIR: dirs.tmp,
      PREFECT__HOME_DIR: `${dirs.home}/.prefect`,
      PREFECT__BACKEND: "server",
      PREFECT__SERVER__ENDPOINT: "http://127.0.0.1:5/graphql",
      PREFECT__CLOUD__HEARTBEAT_MODE: "thread",
    });
    expect(env.PREFECT__CLOUD__API_KEY).toBeUndefined();
    expect(env[EXECUTION_MARKER]).toBe("sierra-1-ab");
    expect(JSON.parse(env[RESTORE_ENV] as string)).toEqual({
      prefix: "PREFECT__",
      caller: {
        PREFECT__CLOUD__API_KEY: "k",
        PREFECT__BACKEND: "cloud",
        HOME: "/home/u",
        TMPDIR: null,
        PYTHONUNBUFFERED: null,
        PYTHONDONTWRITEBYTECODE: null,
        PYTHONPATH: null,
      },
    });
    const withPath = prefectEnv({ PYTHONPATH: "/mine" }, dirs, "http://127.0.0.1:5/graphql", "sierra-1-ab");
    expect(JSON.parse(withPath[RESTORE_ENV] as string).caller).toMatchObject({ PYTHONPATH: "/mine" });
  });

  it("starts the agent with only the batch's labels, its API on loopback, and the user's agent options", () => {
    expect(
      agentArgs({
        python: "py",
        labels: ["sierra-x", "gpu"],
        port: 7,
        showFlowLogs: true,
        importPaths: ["/m"],
      }),
    ).toEqual([
      "-m",
      "prefect",
      "agent",
      "local",
      "start",
      "--no-hostname-label",
      "--label",
      "sierra-x",
      "--label",
      "gpu",
      "--agent-address",
      "http://127.0.0.1:7",
      "--import-path",
      "/m",
      "--show-flow-logs",
    ]);
  });
});

describe("the generated flow", () => {
  const settings = {
    name: 'sierra b "batch"',
    labels: ["sierra-x"],
    env: { A: "1" },
    workingDir: "/b/scratch/.p",
    jobs: 3,
    strict: true,
    killGrace: 2,
    pidDir: "/b/scratch/.p/pids",
    pythonDir: "/pkg/python/",
  };

  it("has a task per run, named by run id and keyed by a slug from its seq, with the contract's settings", () => {
    const files = flowFiles(
      [run(0), run(1, { stdout: null, stderr: null })],
      settings,
      "/b/scratch/.p/flows",
      "flow1",
    );
    expect(files.specFile).toBe("/b/scratch/.p/flows/flow1.json");
    expect(files.spec).toMatchObject({
      labels: ["sierra-x"],
      flowEnv: { A: "1" },
      workingDir: "/b/scratch/.p",
      script: "/b/scratch/.p/flows/flow1.py",
      settings: { jobs: 3, strict: true, killGrace: 2, pidDir: "/b/scratch/.p/pids" },
    });
    const runs = files.spec.runs as Array<Record<string, unknown>>;
    expect(runs.map((spec) => [spec.id, spec.slug, spec.stdout])).toEqual([
      ["e/run0", "run-1", "/b/scratch/e/run0/stdout"],
      ["e/run1", "run-2", null],
    ]);
    expect(runs[0]).toMatchObject({
      commandBase64: Buffer.from(`echo "it's" 0`).toString("base64"),
      cwd: "/b/exp-inputs/e",
      env: run(0).env,
    });
    expect(slugOf(run(4))).toBe("run-5");
  });

  it("is a script with its values as literals, so the flow-run process rebuilds the same flow", () => {
    const { scriptText } = flowFiles([run(0)], settings, "/b/scratch/.p/flows", "flow1");
    expect(scriptText).toContain(`sys.path[:0] = ["/pkg/python/",${JSON.stringify(CORE_PYTHON_DIR)}]`);
    expect(scriptText).toContain('flow = build_flow("/b/scratch/.p/flows/flow1.json")');
    expect(scriptText).toContain('flow "sierra b \\"batch\\""');
  });
});

describe("task-run states", () => {
  const taskRun = (state: string, message: string | null) => ({
    state,
    state_message: message,
    state_timestamp: "2026-01-01T00:00:01.000Z",
    task: { slug: "run-1" },
  });
  const outcome = (fields: object) =>
    OUTCOME_PREFIX + JSON.stringify({ startedAt: 1000, finishedAt: 3500, ...fields });

  it("a run ends with the outcome its task reported, whatever the state class", () => {
    expect(viewTaskRun(taskRun("Success", outcome({ exitCode: 0, signal: null })))).toEqual({
      kind: "ended",
      outcome: { exitCode: 0, signal: null, startedAt: new Date(1000), finishedAt: new Date(3500) },
    });
    expect(viewTaskRun(taskRun("Failed", outcome({ exitCode: null, signal: "SIGTERM" })))).toMatchObject({
      kind: "ended",
      outcome: { exitCode: null, signal: "SIGTERM" },
    });
    expect(
      viewTaskRun(taskRun("Failed", outcome({ exitCode: null, signal: null, error: "could not start: x" }))),
    ).toMatchObject({ kind: "ended", outcome: { error: "could not start: x" } });
  });

  it("Running (and Cancelling) is a start; Pending and Scheduled wait; a finish without outcome is unreported", () => {
    expect(viewTaskRun(taskRun("Running", "Starting task run."))).toEqual({
      kind: "running",
      since: new Date("2026-01-01T00:00:01.000Z"),
    });
    expect(viewTaskRun(taskRun("Pending", "Task run created")).kind).toBe("waiting");
    expect(viewTaskRun(taskRun("Retrying", null)).kind).toBe("waiting");
    expect(viewTaskRun(taskRun("Cancelled", "Flow run is cancelled"))).toEqual({
      kind: "finished-unreported",
      state: "Cancelled",
      message: "Flow run is cancelled",
    });
    expect(viewTaskRun(taskRun("TriggerFailed", "Trigger was all_successful")).kind).toBe(
      "finished-unreported",
    );
  });
});
