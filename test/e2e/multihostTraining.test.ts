/**
 * Training across "hosts" that are network namespaces on a bridge (bench/netns.ts), every socket beyond
 * loopback and so under CURVE, with the default model (channels 16..256: 22.6 MB of gradients, full 1 MiB
 * ring chunks, which is what stalled cross-host rings before). The coordinator and rank 0 run on host 0,
 * `orchestrate worker` agents on the others. Every rank sends the CRC-32 of its full weights after every
 * step (--checksum-every 1) and the coordinator ends the run as "diverged" on any difference, so a completed
 * run says the weights were bitwise equal on every rank at every step. Needs root (CI runs as root).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHosts, type HostNet, type NetHost } from "../../bench/netns.js";
import { listCheckpoints, readCheckpoint } from "../../src/train/checkpoint.js";
import { cacheDir, cli, events, pidAlive, root, tempRun, waitForEvents, workerPids } from "./trainHelpers.js";

const tag = String(process.pid % 1000);
let net: HostNet;
const children: ChildProcess[] = [];

beforeAll(() => {
  net = buildHosts({ prefix: `vs${tag}`, count: 4, subnet: "10.214.7" });
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  net?.remove();
});

interface Proc {
  child: ChildProcess;
  done: Promise<number | null>;
  stderr: () => string;
}

/** `orchestrate ...args` inside a host's namespace. */
function onHost(host: NetHost, args: string[]): Proc {
  const child = spawn("ip", ["netns", "exec", host.ns, process.execPath, cli, ...args], {
    cwd: root,
    env: { ...process.env, VOXRING_CACHE_DIR: cacheDir, CI: "1" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.push(child);
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
    if (process.env.VOXRING_E2E_VERBOSE) process.stderr.write(d);
  });
  const done = new Promise<number | null>((resolve) => child.on("exit", (code) => setTimeout(() => resolve(code), 50)));
  return { child, done, stderr: () => stderr };
}

/** The exit status, or "hung" after `ms` (the process is killed then): a hang fails with the logs, not a timeout. */
async function exitWithin(proc: Proc, ms: number): Promise<number | null | "hung"> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<"hung">((resolve) => {
    timer = setTimeout(() => resolve("hung"), ms);
  });
  const code = await Promise.race([proc.done, hung]);
  clearTimeout(timer);
  if (code === "hung") proc.child.kill("SIGKILL");
  return code;
}

async function waitFor(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A coordinator with one local worker on host 0 and an agent on each of `remote` hosts. */
async function multihostRun(
  name: string,
  port: number,
  remote: NetHost[],
  trainArgs: string[],
  workerArgs: string[] = [],
) {
  const out = tempRun(name);
  const [first] = net.hosts;
  const coordinator = onHost(first, [
    "train",
    ...["--bind", first.addr, "--port", String(port), "--gpus", "1", "--remote-workers", String(remote.length)],
    ...["--threads", "1", "--out", out, "--metrics-port", "0", "--synth-cases", "4", "--val-fraction", "0.25"],
    ...trainArgs,
  ]);
  await waitFor(join(out, "run.keys"), 60_000);
  const workers = remote.map((h) =>
    onHost(h, [
      "worker",
      ...["--coordinator", `tcp://${first.addr}:${port}`, "--key-file", join(out, "run.keys"), "--bind", h.addr],
      ...["--threads", "1", ...workerArgs],
    ]),
  );
  return { out, coordinator, workers };
}

// The default model at a small patch: compute stays small, the gradients are full size.
const defaultModel = ["--patch", "32", "32", "16", "--batch", "1", "--val-window", "32", "32", "16"];

describe("training across network-namespace hosts with the default model", () => {
  it.each([
    [4, 3],
    [2, 2],
  ])(
    "%i hosts: every step completes and every rank holds bitwise the same weights",
    async (hosts, steps) => {
      const run = await multihostRun(`mh${hosts}`, 21000 + hosts, net.hosts.slice(1, hosts), [
        ...defaultModel,
        ...["--epochs", "1", "--steps-per-epoch", String(steps), "--checksum-every", "1", "--val-every", "100"],
      ]);
      const code = await exitWithin(run.coordinator, 240_000);
      expect(code, run.coordinator.stderr().slice(-3000)).toBe(0);
      for (const w of run.workers) expect(await w.done).toBe(0);
      expect(run.coordinator.stderr()).toMatch(new RegExp(`ring of ${hosts} formed`));
      const e = events(run.out);
      expect(e.at(-1)).toMatchObject({ type: "end", status: "completed", step: steps });
      expect(e.filter((x) => x.type === "step").map((x) => (x.type === "step" ? x.step : -1))).toEqual(
        Array.from({ length: steps }, (_, i) => i + 1),
      );
      const last = readCheckpoint(listCheckpoints(run.out).at(-1) as string);
      expect(last.globalStep).toBe(steps);
      expect(last.params.reduce((n, p) => n + p.data.length, 0)).toBeGreaterThan(5_000_000);
    },
    300_000,
  );
});

describe("stalls and lost coordinators across hosts", () => {
  const small = ["--channels", "4", "8", "--patch", "16", "16", "8", "--batch", "1", "--val-window", "16", "16", "8"];

  it("a SIGSTOPped worker ends the generation within the bound, is named, and the run restarts and completes", async () => {
    const run = await multihostRun("stall", 21010, net.hosts.slice(1, 2), [
      ...small,
      ...["--epochs", "4", "--steps-per-epoch", "3", "--val-every", "1", "--collective-timeout", "3"],
      ...["--max-restarts", "1", "--heartbeat-seconds", "60"],
    ]);
    await waitForEvents(run.out, (e) => e.some((x) => x.type === "checkpoint"), 120_000);
    // The coordinator's own worker is rank 0; stopped, it stalls the ring without dying.
    const [local] = workerPids(run.coordinator.child.pid as number);
    process.kill(local, "SIGSTOP");
    const code = await exitWithin(run.coordinator, 240_000);
    const log = run.coordinator.stderr();
    expect(code, log.slice(-3000)).toBe(0);
    expect(await run.workers[0].done).toBe(0);
    expect(log).toMatch(
      /rank 0 stalled: rank 1 had no frame from rank 0 for 3 s in all-reduce #\d+ (\((reduce-scatter|all-gather) hop 1 of 1, \d+ of \d+ frames\)|on the native data plane) at step \d+; rank 1 waited in the ring: restarting all workers from step \d+ \(restart 1 of 1\)/,
    );
    const e = events(run.out);
    const restarts = e.filter((x) => x.type === "restart");
    expect(restarts).toHaveLength(1);
    expect(e.at(-1)).toMatchObject({ type: "end", status: "completed", step: 12 });
  }, 300_000);

  it("a SIGSTOPped remote worker is ended by its agent, which starts a fresh one, and the run completes", async () => {
    const run = await multihostRun(
      "remotestop",
      21040,
      net.hosts.slice(1, 2),
      [
        ...small,
        ...["--epochs", "4", "--steps-per-epoch", "3", "--val-every", "1", "--collective-timeout", "3"],
        ...["--max-restarts", "1", "--heartbeat-seconds", "60"],
      ],
      ["--coordinator-timeout", "5"],
    );
    await waitForEvents(run.out, (e) => e.some((x) => x.type === "checkpoint"), 120_000);
    // The agent is the process ip netns exec became; its child is the remote rank.
    const [remote] = workerPids(run.workers[0].child.pid as number);
    process.kill(remote, "SIGSTOP");
    const code = await exitWithin(run.coordinator, 240_000);
    const log = run.coordinator.stderr();
    const agent = run.workers[0].stderr();
    expect(code, `${log.slice(-3000)}\n--- agent:\n${agent.slice(-2000)}`).toBe(0);
    expect(log).toMatch(/rank 1 stalled: rank 0 had no frame from rank 1 for 3 s/);
    expect(await run.workers[0].done).toBe(0);
    expect(agent).toMatch(
      new RegExp(`orchestrate worker: the worker \\(pid ${remote}\\) has been stopped for 5 s; ending it`),
    );
    expect(agent).toMatch(/starting a fresh worker/);
    expect(pidAlive(remote)).toBe(false);
    expect(events(run.out).at(-1)).toMatchObject({ type: "end", status: "completed", step: 12 });
  }, 300_000);

  // No --collective-timeout: the first plan carries the bound for an untimed step (600 s), and the measured
  // steps bring it down to the floor mid-epoch, so a stall in the first epoch is caught at 60 s.
  it("a stall in the first epoch is judged by the bound the first steps measured, not the first plan's", async () => {
    const run = await multihostRun("firstbound", 21030, net.hosts.slice(1, 2), [
      ...small,
      ...["--epochs", "1", "--steps-per-epoch", "100000", "--val-every", "1000", "--max-restarts", "0"],
      ...["--heartbeat-seconds", "600"],
    ]);
    await waitForEvents(run.out, (e) => e.filter((x) => x.type === "step").length >= 3, 120_000);
    const [local] = workerPids(run.coordinator.child.pid as number);
    process.kill(local, "SIGSTOP");
    const code = await exitWithin(run.coordinator, 240_000);
    const log = run.coordinator.stderr();
    expect(code, log.slice(-3000)).toBe(1);
    expect(log).toMatch(/rank 0 stalled: rank 1 had no frame from rank 0 for 60 s in all-reduce #\d+/);
  }, 300_000);

  it("a worker that joins while a generation runs waits for the next, hearing the coordinator, and leaves with the run", async () => {
    const run = await multihostRun("waiting", 21050, net.hosts.slice(1, 2), [
      ...small,
      ...["--epochs", "1000", "--steps-per-epoch", "3", "--val-every", "1000"],
    ]);
    await waitForEvents(run.out, (e) => e.filter((x) => x.type === "step").length >= 2, 120_000);
    const [first, , third] = net.hosts;
    const extra = onHost(third, [
      "worker",
      ...["--coordinator", `tcp://${first.addr}:21050`, "--key-file", join(run.out, "run.keys"), "--bind", third.addr],
      ...["--threads", "1", "--coordinator-timeout", "3"],
    ]);
    // Well past its --coordinator-timeout: only the coordinator's heartbeats keep it there.
    await new Promise((r) => setTimeout(r, 10_000));
    expect(extra.child.exitCode, extra.stderr()).toBeNull();
    run.coordinator.child.kill("SIGTERM");
    expect(await exitWithin(run.coordinator, 60_000), run.coordinator.stderr().slice(-3000)).toBe(0);
    expect(await exitWithin(extra, 30_000), extra.stderr()).toBe(0);
    expect(extra.stderr()).not.toMatch(/silent|starting a fresh worker/);
    expect(await run.workers[0].done).toBe(0);
  }, 180_000);

  it("a remote worker whose coordinator was SIGKILLed leaves within its window, and so does its agent", async () => {
    const run = await multihostRun(
      "lost",
      21020,
      net.hosts.slice(1, 2),
      [...small, "--epochs", "1000", "--steps-per-epoch", "3", "--val-every", "1000"],
      ["--coordinator-timeout", "3"],
    );
    await waitForEvents(run.out, (e) => e.filter((x) => x.type === "step").length >= 2, 120_000);
    run.coordinator.child.kill("SIGKILL");
    expect(await run.workers[0].done).toBe(1);
    expect(run.workers[0].stderr()).toMatch(/the coordinator has been silent for 3 s: leaving/);
    expect(run.workers[0].stderr()).toMatch(/orchestrate worker: the coordinator is gone; leaving/);
    expect(run.workers[0].stderr()).not.toMatch(/starting a fresh worker/);
  }, 180_000);
});
