// Rehearses a release end to end against a real local registry: starts verdaccio on a free
// loopback port with its own config and storage in a temp dir; in a copy of the workspace,
// gives every public package a snapshot version, builds and publishes them with `pnpm
// publish`; then, in a temp project outside the repo, installs @sierra-exec/cli from there,
// runs a batch on the default execenv, generates a plugin with `sierra new execenv`, builds,
// tests and publishes it, installs it beside the CLI and runs a batch with `--execenv` naming
// it. The repository is left unchanged; verdaccio is stopped by its process group whatever
// happens. Exits 0 when every step passed, 1 at the first that failed.
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CommandError, pnpmBin, publicPackages, repoRoot, run, stopRunning } from "./lib/workspace.mjs";

const PLUGIN_NAME = "rehearsal";
const PLUGIN_PACKAGE = `sierra-execenv-${PLUGIN_NAME}`;
const SNAPSHOT_TAG = "rehearsal";
const COMMAND_TIMEOUT_MS = 240_000;
/** Experiments and runs of the batch the rehearsal executes. */
const BATCH = { experiments: 2, runs: 3 };

if (process.argv.length > 2) {
  console.error(`release-rehearsal: takes no arguments (got ${process.argv.slice(2).join(" ")})`);
  process.exit(2);
}

const started = Date.now();
const work = mkdtempSync(path.join(tmpdir(), "sierra-release-rehearsal-"));
const dirs = {
  registry: path.join(work, "registry"),
  workspace: path.join(work, "workspace"),
  project: path.join(work, "project"),
  plugin: path.join(work, "plugin"),
  batch: path.join(work, "batch"),
  npmCache: path.join(work, "npm-cache"),
  pnpmCache: path.join(work, "pnpm-cache"),
};
const npmrc = path.join(work, "npmrc");
let verdaccio;
let registryUrl;
let stepCount = 0;

const elapsed = (since) => `${((Date.now() - since) / 1000).toFixed(1)}s`;

async function step(title, action) {
  stepCount += 1;
  const since = Date.now();
  console.log(`[${stepCount}] ${title}`);
  const result = await action();
  console.log(`    done in ${elapsed(since)}${typeof result === "string" ? `: ${result}` : ""}`);
  return result;
}

/** Inherited npm/pnpm settings (e.g. from `pnpm run`) must not redirect the rehearsal's clients. */
function clientEnv() {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^npm_(config|package|lifecycle)_/i.test(key)),
  );
  return {
    ...env,
    npm_config_registry: registryUrl,
    npm_config_userconfig: npmrc,
    npm_config_cache: dirs.npmCache,
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
  };
}

function freeLoopbackPort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** What the registry holds: our scopes only locally, everything else proxied read-only. */
function verdaccioConfig(port, upstream) {
  const local = { access: "$all", publish: "$authenticated", unpublish: "$authenticated" };
  return {
    storage: path.join(dirs.registry, "storage"),
    auth: { htpasswd: { file: path.join(dirs.registry, "htpasswd"), max_users: 1 } },
    uplinks: { upstream: { url: upstream, timeout: "60s" } },
    packages: {
      "@sierra-exec/*": local,
      "sierra-execenv-*": local,
      "**": { access: "$all", publish: "$authenticated", proxy: "upstream" },
    },
    listen: `127.0.0.1:${port}`,
    web: { enable: false },
    middlewares: { audit: { enabled: false } },
    log: { type: "file", path: path.join(dirs.registry, "verdaccio.log"), level: "warn" },
  };
}

async function startVerdaccio() {
  mkdirSync(dirs.registry, { recursive: true });
  const upstream = (await run("npm", ["config", "get", "registry"], { cwd: work })).trim();
  const port = await freeLoopbackPort();
  const configFile = path.join(dirs.registry, "config.yaml");
  // YAML is a superset of JSON.
  writeFileSync(configFile, JSON.stringify(verdaccioConfig(port, upstream), null, 2));
  registryUrl = `http://127.0.0.1:${port}/`;
  verdaccio = spawn(path.join(repoRoot, "node_modules/.bin/verdaccio"), ["--config", configFile], {
    cwd: dirs.registry,
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  verdaccio.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (verdaccio.exitCode !== null) throw new Error(`verdaccio exited at start: ${stderr.trim()}`);
    try {
      if ((await fetch(`${registryUrl}-/ping`)).ok)
        return `pid ${verdaccio.pid}, ${registryUrl}, uplink ${upstream}`;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`verdaccio did not answer on ${registryUrl} within 30s`);
}

async function stopVerdaccio() {
  if (!verdaccio || verdaccio.exitCode !== null || verdaccio.signalCode !== null) return;
  const exited = new Promise((resolve) => verdaccio.once("exit", resolve));
  const group = -verdaccio.pid;
  process.kill(group, "SIGTERM");
  const stopped = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
  if (!stopped) {
    process.kill(group, "SIGKILL");
    await exited;
  }
  console.log(`    verdaccio (pid ${verdaccio.pid}) stopped${stopped ? "" : " with SIGKILL"}`);
}

/** A publisher account on the fresh registry; its token goes into the rehearsal's npmrc. */
async function createPublisher() {
  const name = "rehearsal";
  const response = await fetch(`${registryUrl}-/user/org.couchdb.user:${name}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, password: `pw-${process.pid}-${Date.now()}` }),
  });
  const body = await response.json();
  if (!response.ok || !body.token) throw new Error(`verdaccio refused the account: ${JSON.stringify(body)}`);
  const host = registryUrl.replace(/^http:/, "");
  writeFileSync(npmrc, `registry=${registryUrl}\n${host}:_authToken=${body.token}\n`);
  return `user ${name}`;
}

const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));
const writeJson = (file, value) => writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

/**
 * Copies the workspace's sources (no node_modules, build output or VCS data), installs the
 * copy offline from the store, and gives every public package a snapshot version there.
 */
async function snapshotWorkspace(env, storeDir) {
  const skipNames = new Set(["node_modules", "dist", ".git", ".turbo", "coverage"]);
  const skipPaths = new Set(["docs/.vitepress/cache", "docs/.vitepress/dist", "bench/.work"]);
  cpSync(repoRoot, dirs.workspace, {
    recursive: true,
    filter: (source) =>
      !skipNames.has(path.basename(source)) && !skipPaths.has(path.relative(repoRoot, source)),
  });
  // `pnpm publish` resolves `workspace:` ranges through the installed workspace. The copy
  // installs from the repository's store, which pnpm would not pick on another filesystem.
  await run(
    pnpmBin,
    [
      "install",
      "--offline",
      "--frozen-lockfile",
      "--ignore-scripts",
      "--reporter=silent",
      "--store-dir",
      storeDir,
    ],
    { cwd: dirs.workspace, env, timeout: COMMAND_TIMEOUT_MS },
  );
  const packages = await publicPackages(dirs.workspace);
  const releases = packages.map(({ name }) => `"${name}": patch`).join("\n");
  writeFileSync(
    path.join(dirs.workspace, ".changeset", "release-rehearsal.md"),
    `---\n${releases}\n---\n\nRelease rehearsal.\n`,
  );
  const changeset = path.join(dirs.workspace, "node_modules/.bin/changeset");
  await run(changeset, ["version", "--snapshot", SNAPSHOT_TAG], { cwd: dirs.workspace, env });
  const versions = new Map(
    packages.map(({ name, dir }) => [name, readJson(path.join(dir, "package.json")).version]),
  );
  for (const [name, version] of versions) console.log(`    ${name}@${version}`);
  return versions;
}

/** Publishes every public package of the versioned copy; fails unless all of them went out. */
async function publishWorkspace(env, versions) {
  await run(
    pnpmBin,
    [
      "-r",
      "publish",
      "--registry",
      registryUrl,
      "--tag",
      SNAPSHOT_TAG,
      "--no-git-checks",
      "--report-summary",
    ],
    { cwd: dirs.workspace, env, timeout: COMMAND_TIMEOUT_MS },
  );
  const { publishedPackages } = readJson(path.join(dirs.workspace, "pnpm-publish-summary.json"));
  const published = new Set(publishedPackages.map(({ name, version }) => `${name}@${version}`));
  const missing = [...versions]
    .map(([name, version]) => `${name}@${version}`)
    .filter((id) => !published.has(id));
  if (missing.length > 0) throw new Error(`not published: ${missing.join(", ")}`);
  return `${published.size} packages published`;
}

/** A small batch in SIERRA's stage-1 layout. */
function writeBatch() {
  for (let exp = 0; exp < BATCH.experiments; exp += 1) {
    const dir = path.join(dirs.batch, "exp-inputs", `exp${exp}`);
    mkdirSync(dir, { recursive: true });
    const lines = Array.from({ length: BATCH.runs }, () => 'echo "run $SIERRA_RUN of $SIERRA_EXP"');
    writeFileSync(path.join(dir, "commands.txt"), `${lines.join("\n")}\n`);
  }
}

/** Runs the batch with the installed `sierra` and checks what it left: one successful record per run. */
async function runBatch(env, extraArgs, expectedExecenv) {
  const sierra = path.join(dirs.project, "node_modules/.bin/sierra");
  await run(sierra, ["--batch-root", dirs.batch, ...extraArgs], { cwd: dirs.project, env, timeout: 120_000 });
  const records = readFileSync(path.join(dirs.batch, "statistics/exec/runs.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  const expected = BATCH.experiments * BATCH.runs;
  const good = records.filter((record) => record.exitCode === 0 && record.execenv === expectedExecenv);
  if (records.length !== expected || good.length !== expected) {
    throw new Error(
      `expected ${expected} successful records from execenv ${expectedExecenv}, found ${good.length} of ${records.length}`,
    );
  }
  return `${expected} runs succeeded on execenv ${expectedExecenv}`;
}

async function npmInstall(specs, env) {
  await run("npm", ["install", "--no-package-lock", ...specs], {
    cwd: dirs.project,
    env,
    timeout: COMMAND_TIMEOUT_MS,
  });
}

/** The generated package as a user would see it: its name, version and range on the core. */
function describeGeneratedPlugin() {
  const manifest = readJson(path.join(dirs.plugin, "package.json"));
  if (manifest.name !== PLUGIN_PACKAGE) {
    throw new Error(`the generator named the package ${manifest.name}, not ${PLUGIN_PACKAGE}`);
  }
  const coreRange = manifest.peerDependencies?.["@sierra-exec/core"] ?? "none";
  return `${manifest.name}@${manifest.version}, peer @sierra-exec/core ${coreRange}`;
}

async function rehearse() {
  await step("start verdaccio on a free loopback port, storage in a temp dir", startVerdaccio);
  const env = clientEnv();
  await step("create a publisher account on it", createPublisher);
  const storeDir = (await run(pnpmBin, ["store", "path"], { cwd: repoRoot })).trim();
  const versions = await step(
    `version a copy of the workspace: changeset version --snapshot ${SNAPSHOT_TAG}`,
    () => snapshotWorkspace(env, storeDir),
  );
  // After versioning, as the release workflow does: a build bakes in the package versions.
  await step("build the versioned copy (turbo)", async () => {
    await run(pnpmBin, ["run", "build", "--output-logs=errors-only"], {
      cwd: dirs.workspace,
      env,
      timeout: COMMAND_TIMEOUT_MS,
    });
  });
  await step(`pnpm -r publish (${versions.size} packages, tag ${SNAPSHOT_TAG})`, () =>
    publishWorkspace(env, versions),
  );

  mkdirSync(dirs.project, { recursive: true });
  writeJson(path.join(dirs.project, "package.json"), { name: "rehearsal-project", private: true });
  writeBatch();
  const cliVersion = versions.get("@sierra-exec/cli");
  await step(`npm install @sierra-exec/cli@${cliVersion} in ${dirs.project}`, () =>
    npmInstall([`@sierra-exec/cli@${cliVersion}`], env),
  );
  await step("run the batch on the default execenv", () => runBatch(env, [], "local"));

  const sierra = path.join(dirs.project, "node_modules/.bin/sierra");
  await step(`generate a plugin: sierra new execenv ${PLUGIN_NAME} --dir ${dirs.plugin}`, async () => {
    await run(sierra, ["new", "execenv", PLUGIN_NAME, "--dir", dirs.plugin], { cwd: dirs.project, env });
    return describeGeneratedPlugin();
  });
  const plugin = `${PLUGIN_PACKAGE}@${readJson(path.join(dirs.plugin, "package.json")).version}`;
  // pnpm keeps registry metadata per host and port: a cache of the rehearsal's own; the
  // packages themselves come from (and go to) the repository's store.
  writeFileSync(path.join(dirs.plugin, ".npmrc"), `cache-dir=${dirs.pnpmCache}\nstore-dir=${storeDir}\n`);
  const pnpmInPlugin = async (args) => {
    await run(pnpmBin, args, { cwd: dirs.plugin, env, timeout: COMMAND_TIMEOUT_MS });
  };
  await step("install, build and test the plugin (pnpm)", async () => {
    await pnpmInPlugin(["install", "--ignore-workspace"]);
    await pnpmInPlugin(["run", "build"]);
    await pnpmInPlugin(["test"]);
  });
  await step(`publish ${plugin}`, () =>
    pnpmInPlugin(["publish", "--registry", registryUrl, "--no-git-checks", "--access", "public"]),
  );
  await step(`npm install ${plugin} beside the CLI`, () =>
    npmInstall([`@sierra-exec/cli@${cliVersion}`, plugin], env),
  );
  await step(`run the batch with --execenv ${PLUGIN_NAME}`, () =>
    runBatch(env, ["--execenv", PLUGIN_NAME], PLUGIN_NAME),
  );
}

let status = 0;
const onSignal = async (signal) => {
  console.log(`release rehearsal: ${signal}, stopping`);
  await stopRunning();
  await stopVerdaccio();
  rmSync(work, { recursive: true, force: true });
  process.exit(signal === "SIGINT" ? 130 : 143);
};
process.once("SIGINT", onSignal);
process.once("SIGTERM", onSignal);

try {
  console.log(`release rehearsal in ${work}`);
  await rehearse();
  console.log(`release rehearsal: passed in ${elapsed(started)}`);
} catch (error) {
  status = 1;
  console.log(`release rehearsal: FAILED at step ${stepCount}: ${error.message}`);
  if (error instanceof CommandError && error.output)
    console.log(error.output.split("\n").slice(-40).join("\n"));
} finally {
  await stopVerdaccio();
  if (status === 0) rmSync(work, { recursive: true, force: true });
  else console.log(`release rehearsal: left ${work} for inspection`);
}
process.exit(status);
