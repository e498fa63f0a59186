/**
 * Two "hosts" on one machine: the coordinator and rank 0 in the root network namespace, rank 1 in a
 * namespace of its own joined by a veth pair (addresses that exist only on that link). Every socket
 * leaves loopback, so everything runs over CURVE with the run's keys; a worker holding other keys gets
 * nothing through. Needs root (CI runs as root); the namespace is removed even when the test fails.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateRunKeys, writeRunKeys } from "../../src/comm/security.js";
import { cli, events, root, start, tempRun } from "./trainHelpers.js";

const ns = `vxrun${process.pid % 10000}`;
const hostA = "10.201.7.1";
const hostB = "10.201.7.2";
const vethA = `vxa${process.pid % 10000}`;
const vethB = `vxb${process.pid % 10000}`;

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: "pipe" });
}

function cleanup(): void {
  try {
    ip("netns", "del", ns);
  } catch {}
  try {
    ip("link", "del", vethA);
  } catch {}
}

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("multihost e2e needs root for ip netns (CI runs as root)");
  cleanup();
  ip("netns", "add", ns);
  ip("link", "add", vethA, "type", "veth", "peer", "name", vethB);
  ip("link", "set", vethB, "netns", ns);
  ip("addr", "add", `${hostA}/24`, "dev", vethA);
  ip("link", "set", vethA, "up");
  ip("netns", "exec", ns, "ip", "addr", "add", `${hostB}/24`, "dev", vethB);
  ip("netns", "exec", ns, "ip", "link", "set", vethB, "up");
  ip("netns", "exec", ns, "ip", "link", "set", "lo", "up");
});

afterAll(cleanup);

/** `orchestrate worker` inside the namespace. */
function remoteWorker(args: string[]) {
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, cli, "worker", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const done = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, done, stderr: () => stderr };
}

async function waitFor(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("a run across two hosts", () => {
  it("trains with one worker in another network namespace over CURVE; a worker without the keys is refused", async () => {
    const out = tempRun("multihost");
    const port = String(20000 + (process.pid % 20000));
    const coordinator = start([
      "--preset",
      "smoke",
      "--gpus",
      "1",
      "--remote-workers",
      "1",
      "--bind",
      hostA,
      "--port",
      port,
      "--out",
      out,
      "--metrics-port",
      "0",
    ]);
    const endpoint = `tcp://${hostA}:${port}`;
    const keyFile = join(out, "run.keys");
    await waitFor(keyFile, 60_000);

    // Other keys: the CURVE handshake fails, the coordinator never hears it, it gives up after its timeout.
    const wrongKeys = join(out, "..", "wrong.keys");
    writeRunKeys(wrongKeys, generateRunKeys());
    const impostor = remoteWorker([
      "--coordinator",
      endpoint,
      "--key-file",
      wrongKeys,
      "--bind",
      hostB,
      "--max-restarts",
      "0",
      "--coordinator-timeout",
      "6",
    ]);
    // No keys at all beyond loopback: refused before connecting, with a one-line error.
    const keyless = remoteWorker(["--coordinator", endpoint, "--bind", hostB]);
    expect(await keyless.done).toBe(2);
    expect(keyless.stderr()).toMatch(/CURVE/);
    expect(await impostor.done).not.toBe(0);
    expect(coordinator.output().stderr).not.toMatch(/ring of 2 formed/);

    const worker = remoteWorker(["--coordinator", endpoint, "--key-file", keyFile, "--bind", hostB]);
    const result = await coordinator.done;
    expect(result.code).toBe(0);
    expect(await worker.done).toBe(0);
    expect(result.stderr).toMatch(/ring of 2 formed/);
    const e = events(out);
    expect(e.at(-1)).toMatchObject({ type: "end", status: "completed" });
    expect(e.find((x) => x.type === "start")).toMatchObject({ worldSize: 2 });
  });
});
