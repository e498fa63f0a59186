/**
 * Failures handled (issue 15), through the built CLI with real worker processes: a bad case met only by a
 * worker ends the run at once with exit 2, a coordinator never blocks or hangs, nothing is left behind.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { ControlServer } from "../../src/comm/control.js";
import { generateRunKeys, writeRunKeys } from "../../src/comm/security.js";
import { workerMessageSchema } from "../../src/protocol/messages.js";
import {
  cli,
  events,
  type Finished,
  type Running,
  root,
  start,
  tempRun,
  waitForEvents,
  workerPids,
} from "./trainHelpers.js";

/** A small dataset of our own, so that its files can be changed under a running training. */
function synthDataset(name: string, cases: number): string {
  const dir = join(tempRun(name), "..", "data");
  execFileSync(process.execPath, [cli, "synth", "--out", dir, "--cases", String(cases), "--seed", "3"], {
    cwd: root,
    stdio: "ignore",
  });
  return dir;
}

const tiny = (data: string, out: string) => [
  "train",
  "--data",
  data,
  "--out",
  out,
  "--threads",
  "1",
  "--channels",
  "4",
  "8",
  "--patch",
  "32",
  "32",
  "8",
  "--val-window",
  "32",
  "32",
  "8",
  "--metrics-port",
  "0",
];

describe("failures classified", () => {
  it("a training case that turns bad after the check ends the run with exit 2 and the worker's real rank, no restart", async () => {
    const data = synthDataset("inputfail", 6);
    const out = tempRun("inputfail");
    // --cache-rate 0.2: a worker keeps one case in memory and reads the others again when it needs them,
    // so a file changed after the check (here: every label file made garbage) is met while training.
    const running = start([
      ...tiny(data, out),
      "--gpus",
      "1",
      "--epochs",
      "20",
      "--steps-per-epoch",
      "10",
      "--cache-rate",
      "0.2",
      "--max-restarts",
      "3",
    ]);
    await waitForEvents(out, (e) => e.some((x) => x.type === "step"), 120_000);
    const garbage = gzipSync(Buffer.from("plain text, no NIfTI header ".repeat(20)));
    for (const name of readdirSync(join(data, "labelsTr"))) {
      const path = join(data, "labelsTr", name);
      writeFileSync(`${path}.tmp`, garbage);
      renameSync(`${path}.tmp`, path); // atomic: the worker reads the old file or the garbage, never half
    }
    const result = await running.done;
    expect(result.code).toBe(2);
    const lastLine = result.stderr.trim().split("\n").at(-1) ?? "";
    expect(lastLine).toMatch(/^orchestrate: rank 0 \(pid \d+ on [^)]+\): .*labelsTr.*not a NIfTI/);
    expect(result.stderr).not.toMatch(/restarting|rank -1|\bat .*\.js:\d+/);
    const e = events(out);
    expect(e.filter((x) => x.type === "restart")).toEqual([]);
    expect(e.at(-1)).toMatchObject({ type: "end", status: "failed" });
  });
});

/** A temp folder of the test's own (TMPDIR), so that other runs on this machine do not blur what is left. */
function privateTemp(name: string): string {
  const dir = join(tempRun(name), "..", "tmp");
  mkdirSync(dir);
  return dir;
}

/** Resolves with the result, or with "hung" once `ms` passed (the child is then killed). */
async function within(running: Running, ms: number): Promise<Finished | "hung"> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<"hung">((resolve) => {
    timer = setTimeout(() => {
      running.child.kill("SIGKILL");
      resolve("hung");
    }, ms);
  });
  const result = await Promise.race([running.done, hung]);
  clearTimeout(timer);
  return result;
}

describe("never hangs, leaves nothing behind", () => {
  it("the only worker of a one-worker run killed with SIGKILL: a clear end, soon, and no leftovers", async () => {
    const data = synthDataset("onlyworker", 6);
    const out = tempRun("onlyworker");
    const tmp = privateTemp("onlyworker");
    const running = start([...tiny(data, out), "--gpus", "1", "--epochs", "50", "--max-restarts", "0"], {
      TMPDIR: tmp,
    });
    await waitForEvents(out, (e) => e.some((x) => x.type === "step"), 120_000);
    const [pid] = workerPids(running.child.pid as number);
    process.kill(pid, "SIGKILL");
    const result = await within(running, 30_000);
    expect(result).not.toBe("hung");
    if (result === "hung") return;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/worker 0 \(pid \d+\) exited with signal SIGKILL; no restarts left/);
    expect(events(out).at(-1)).toMatchObject({ type: "end", status: "failed" });
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("a worker killed mid-run and restarted: no voxring-ring-* folder is left in the temp folder", async () => {
    const data = synthDataset("leftovers", 6);
    const out = tempRun("leftovers");
    const tmp = privateTemp("leftovers");
    const running = start(
      [...tiny(data, out), "--gpus", "2", "--epochs", "3", "--steps-per-epoch", "4", "--max-restarts", "1"],
      { TMPDIR: tmp },
    );
    await waitForEvents(out, (e) => e.some((x) => x.type === "step"), 120_000);
    // While the ring is up, its folders are where the run put them: inside the run's own temp folder.
    const runFolders = readdirSync(tmp);
    expect(runFolders).toHaveLength(1);
    expect(runFolders[0]).toMatch(/^voxring-run-/);
    expect(readdirSync(join(tmp, runFolders[0])).filter((n) => n.startsWith("voxring-ring-"))).toHaveLength(2);
    const pids = workerPids(running.child.pid as number);
    process.kill(pids[1], "SIGKILL");
    const result = await running.done;
    expect(result.code).toBe(0);
    const e = events(out);
    expect(e.filter((x) => x.type === "restart")).toHaveLength(1);
    expect(readdirSync(tmp)).toEqual([]);
    // Steps run again after the restart are marked, so a reader knows which loss is the real one.
    const restartAt = e.findIndex((x) => x.type === "restart");
    const steps = (list: typeof e) => list.flatMap((x) => (x.type === "step" ? [x] : []));
    const highestBefore = Math.max(...steps(e.slice(0, restartAt)).map((x) => x.step));
    const after = steps(e.slice(restartAt));
    expect(after.some((x) => x.redo)).toBe(true);
    for (const x of after) expect(x.redo === true).toBe(x.step <= highestBefore);
    expect(steps(e.slice(0, restartAt)).some((x) => x.redo)).toBe(false);
  });

  it("SIGTERM from `timeout 12` ends the run within seconds of the signal, with its end event", async () => {
    const data = synthDataset("timeout", 6);
    const out = tempRun("timeout");
    const tmp = privateTemp("timeout");
    const child = spawn(
      "timeout",
      ["12", process.execPath, cli, ...tiny(data, out), "--gpus", "2", "--epochs", "40", "--steps-per-epoch", "10"],
      { cwd: root, env: { ...process.env, TMPDIR: tmp, CI: "1" }, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    const started = Date.now();
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    // timeout(1) sends SIGTERM at 12 s and SIGKILL never (no -k): a hang would show here as a long wait.
    expect((Date.now() - started) / 1000).toBeLessThan(12 + 20);
    expect(code).toBe(124); // timeout's own status: the command was signalled, and exited by itself
    expect(stderr).toMatch(/SIGTERM: stopping after the current step/);
    expect({ last: events(out).at(-1), stderr }).toMatchObject({ last: { type: "end", status: "stopped" } });
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("a start refused for a taken --metrics-port writes nothing to --out", async () => {
    const data = synthDataset("refused", 6);
    const out = tempRun("refused");
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const result = await within(start([...tiny(data, out), "--gpus", "1", "--metrics-port", String(port)]), 60_000);
      expect(result).not.toBe("hung"); // (the idle validation thread once kept a refused start alive)
      if (result === "hung") return;
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split("\n").at(-1)).toMatch(/^orchestrate: --metrics-port: port \d+ .* in use/);
      expect(existsSync(out)).toBe(false);
    } finally {
      blocker.close();
    }
  });
});

describe("the coordinator never blocks", () => {
  it("/metrics and the live page answer within a second throughout validations of several seconds each", async () => {
    const data = synthDataset("metricsval", 6);
    const out = tempRun("metricsval");
    // The default 192×192×64 validation windows over these cases: seconds of tensor work per validation.
    const running = start([
      "train",
      "--data",
      data,
      "--out",
      out,
      "--threads",
      "1",
      "--channels",
      "4",
      "8",
      "--patch",
      "32",
      "32",
      "8",
      "--metrics-port",
      "0",
      "--gpus",
      "1",
      "--epochs",
      "2",
      "--steps-per-epoch",
      "3",
      "--val-every",
      "1",
    ]);
    let url: string | null = null;
    while (url === null && running.child.exitCode === null) {
      url = /metrics: (http:\/\/\S+)/.exec(running.output().stderr)?.[1] ?? null;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(url).not.toBeNull();
    let slowest = 0;
    let answers = 0;
    let finished = false;
    void running.done.then(() => {
      finished = true;
    });
    // /metrics for Prometheus, and the live page with the JSON it polls
    const paths = ["/metrics", "/api/run", "/"];
    const slowestOf: Record<string, number> = {};
    for (let i = 0; !finished; i++) {
      const path = paths[i % paths.length];
      const t0 = performance.now();
      try {
        const response = await fetch(new URL(path, url as string), { signal: AbortSignal.timeout(5000) });
        await response.text();
        answers++;
      } catch {
        if (finished || running.child.exitCode !== null) break; // the run ended under this request
      }
      const ms = performance.now() - t0;
      slowestOf[path] = Math.max(slowestOf[path] ?? 0, ms);
      slowest = Math.max(slowest, ms);
      await new Promise((r) => setTimeout(r, 50));
    }
    const result = await running.done;
    expect(result.code).toBe(0);
    const validations = events(out).filter((x) => x.type === "validation");
    // (a snapshot that arrives while a validation runs replaces the one waiting: at least one, at most 3)
    expect(validations.length).toBeGreaterThanOrEqual(1);
    // The measurement means something only if the validations were long enough to block for a while.
    const longest = Math.max(...validations.map((v) => (v.type === "validation" ? v.seconds : 0)));
    expect(longest).toBeGreaterThan(2);
    expect(answers).toBeGreaterThan(20);
    console.log(`slowest answers (ms) ${JSON.stringify(slowestOf)} of ${answers}; longest validation ${longest} s`);
    expect(slowest).toBeLessThan(1000);
  });
});

describe("liveness does not depend on a step's length", () => {
  it("a first step far longer than --heartbeat-seconds is not taken for a dead worker", async () => {
    const out = tempRun("longstep");
    // The default model on one thread at a large patch: a step of several seconds, against a 2-second
    // heartbeat bound (the coordinator knows no step time before the first step ends).
    const result = await start([
      "--preset",
      "smoke",
      "--out",
      out,
      "--gpus",
      "1",
      "--threads",
      "1",
      "--channels",
      "16",
      "32",
      "64",
      "128",
      "256",
      "--patch",
      "160",
      "160",
      "64",
      "--epochs",
      "1",
      "--steps-per-epoch",
      "1",
      "--heartbeat-seconds",
      "2",
      "--max-restarts",
      "0",
      "--metrics-port",
      "0",
    ]).done;
    const e = events(out);
    const steps = e.filter((x) => x.type === "step");
    expect(result.stderr).not.toMatch(/silent for/);
    expect(result.code).toBe(0);
    expect(steps).toHaveLength(1);
    // Meaningful only if the step was much longer than the bound it used to be judged by.
    expect(steps[0].type === "step" ? steps[0].seconds : 0).toBeGreaterThan(4);
  });
});

describe("a wrong --key-file", () => {
  it("orchestrate worker says at once that the handshake failed, in one line, and exits 2", async () => {
    const keys = generateRunKeys();
    const server = await ControlServer.listen("tcp://127.0.0.1:0", {
      schema: workerMessageSchema,
      keys,
      log: () => {},
    });
    const keyFile = join(tempRun("wrongkeys"), "..", "other.keys");
    writeRunKeys(keyFile, generateRunKeys()); // another run's keys
    try {
      const running = start(["worker", "--coordinator", server.endpoint, "--key-file", keyFile, "--max-restarts", "3"]);
      const result = await within(running, 30_000); // the silent wait used to last --coordinator-timeout (120 s), 4 times
      expect(result).not.toBe("hung");
      if (result === "hung") return;
      expect(result.code).toBe(2);
      const lines = result.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/security handshake failed .*wrong keys .*--key-file .*other\.keys/);
    } finally {
      server.close();
    }
  });
});
