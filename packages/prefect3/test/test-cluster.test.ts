// The Prefect test cluster, real: a server on the test hosts' bridge address with basic
// auth, a process worker on each of 3 hosts, and nothing left after stop().
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { type HelperProcess, markedProcesses } from "@sierra-exec/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findPrefect } from "../src/prefect-install.js";
import { type PrefectTestCluster, startPrefectTestCluster } from "../src/test-cluster.js";

const log = { info: () => {}, warn: () => {}, debug: () => {} };

let cluster: PrefectTestCluster;
const workers: HelperProcess[] = [];
beforeAll(async () => {
  const { python } = await findPrefect(undefined, { log, signal: new AbortController().signal });
  cluster = await startPrefectTestCluster({ hosts: 3, python });
});
afterAll(() => cluster?.stop());

const basic = (auth: string) => ({ authorization: `Basic ${Buffer.from(auth).toString("base64")}` });

describe("a Prefect test cluster", () => {
  it("serves on the bridge address a worker on each of 3 hosts, all ONLINE for the pool", async () => {
    expect(cluster.apiUrl).toMatch(/^http:\/\/(\d+\.){3}\d+:\d+\/api$/);
    expect(cluster.apiUrl).not.toContain("127.0.0.1");
    // Bound to the bridge address only: the hosts reach it there, loopback does not.
    const port = new URL(cluster.apiUrl).port;
    await expect(fetch(`http://127.0.0.1:${port}/api/health`)).rejects.toThrow();
    // Started at once, as a lab's hosts would: the first ones make the pool.
    workers.push(
      ...(await Promise.all(
        cluster.hosts.map((host) =>
          cluster.startWorker(host, { pool: "sierra-pool", env: { TEST_WORKER: host.name } }),
        ),
      )),
    );
    const response = await fetch(`${cluster.apiUrl}/work_pools/sierra-pool/workers/filter`, {
      method: "POST",
      headers: { "content-type": "application/json", ...basic(cluster.authString) },
      body: "{}",
    });
    const known = (await response.json()) as { name: string; status: string }[];
    expect(known.map(({ name, status }) => `${name} ${status}`).sort()).toEqual(
      cluster.hosts.map((host) => `${host.name} ONLINE`).sort(),
    );
    for (const [index, host] of cluster.hosts.entries()) {
      const pid = workers[index]?.pid as number;
      expect(host.pids()).toContain(pid);
      expect(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")).toContain(`TEST_WORKER=${host.name}`);
    }
  });

  it("refuses a request without the auth string (401) and accepts one with it", async () => {
    expect(cluster.authString).toMatch(/^sierra:[0-9a-f]+$/);
    const url = `${cluster.apiUrl}/work_pools/sierra-pool`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: basic("sierra:wrong") })).status).toBe(401);
    expect((await fetch(url, { headers: basic(cluster.authString) })).status).toBe(200);
    // A host reaches it too, with the same answers.
    const host = cluster.hosts[0] as (typeof cluster.hosts)[number];
    const status = (auth: string) =>
      host.exec(cluster.python, [
        "-c",
        "import sys, urllib.request as u, urllib.error as e\ntry: print(u.urlopen(u.Request(sys.argv[1], headers={'Authorization': sys.argv[2]})).status)\nexcept e.HTTPError as x: print(x.code)",
        url,
        auth,
      ]);
    expect((await status("")).stdout.trim()).toBe("401");
    expect((await status(basic(cluster.authString).authorization)).stdout.trim()).toBe("200");
  });

  it("stop() leaves no process, namespace or link", async () => {
    const names = cluster.hosts.map((host) => host.name);
    // Every process of the cluster (server, workers, what they start) has the API URL in its environment.
    const before = markedProcesses("PREFECT_API_URL", cluster.apiUrl);
    expect(before).toEqual(expect.arrayContaining(workers.map((worker) => worker.pid)));
    expect(before.length).toBeGreaterThan(workers.length);
    await cluster.stop();
    expect(markedProcesses("PREFECT_API_URL", cluster.apiUrl)).toEqual([]);
    expect(cluster.hosts.flatMap((host) => host.pids())).toEqual([]);
    const shown =
      execFileSync("ip", ["-o", "link"], { encoding: "utf8" }) +
      execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
    for (const name of names) expect(shown).not.toContain(name);
    await cluster.stop(); // again: nothing to do
  });
});
