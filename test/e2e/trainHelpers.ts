/**
 * Shared by the e2e suites: run the built CLI (globalSetup.ts builds dist/ once), read a run directory, check
 * processes. Every suite shares one synthetic-data cache so the phantoms are generated once per machine.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readEvents, type StoredEvent } from "../../src/coordinator/events.js";
import { readCheckpoint, resolveCheckpoint } from "../../src/train/checkpoint.js";

export const root = resolve(import.meta.dirname, "..", "..");
export const cli = join(root, "dist", "src", "cli", "cli.js");
export const cacheDir = join(tmpdir(), "voxring-e2e-cache");

/** A two-worker run of the smoke preset for `epochs` epochs into `out`, metrics on a free port. */
export function smokeArgs(out: string, epochs: number): string[] {
  return ["--preset", "smoke", "--gpus", "2", "--epochs", String(epochs), "--out", out, "--metrics-port", "0"];
}

/** `train` of a tiny net (4/8 channels, 32×32×8 patches), one thread a worker, metrics and page on a free port. */
export function tinyRun(out: string, gpus: number, epochs: number, stepsPerEpoch: number): string[] {
  return ["train", "--preset", "smoke", "--gpus", String(gpus), "--threads", "1", "--channels", "4", "8"].concat(
    ["--patch", "32", "32", "8", "--epochs", String(epochs), "--steps-per-epoch", String(stepsPerEpoch)],
    ["--metrics-port", "0", "--out", out],
  );
}

export function tempRun(name: string): string {
  return join(mkdtempSync(join(tmpdir(), `voxring-${name}-`)), "run");
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  output: () => { stdout: string; stderr: string };
  done: Promise<Finished>;
}

/** Starts `orchestrate ...args`; small and quiet by default (smoke preset, ephemeral metrics port). */
export function start(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: root,
    env: { ...process.env, VOXRING_CACHE_DIR: cacheDir, CI: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
    if (process.env.VOXRING_E2E_VERBOSE) process.stderr.write(d);
  });
  const done = new Promise<Finished>((resolveDone) => {
    child.on("exit", (code, signal) => {
      // 'exit' can come before the pipes drain
      setTimeout(() => resolveDone({ code, signal, stdout, stderr }), 50);
    });
  });
  return { child, output: () => ({ stdout, stderr }), done };
}

export function run(args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return start(args, env).done;
}

export interface ModuleOptions {
  /** a command the node process runs under, e.g. ["ip", "netns", "exec", ns] */
  via?: string[];
  env?: Record<string, string>;
  /** collects the child, for the caller to kill when the test fails */
  children?: ChildProcess[];
  /** kills the child after this long */
  timeoutMs?: number;
  /** names the child in the error */
  label?: string;
}

/** Runs an ES module given as text in its own node process; resolves with its stdout when it exits 0. */
export function runModule(code: string, options: ModuleOptions = {}): Promise<string> {
  const { via = [], env = {}, children, timeoutMs, label = "module" } = options;
  const command = [...via, process.execPath, "--input-type=module", "-e", code];
  const child = spawn(command[0], command.slice(1), {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children?.push(child);
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => child.kill(), timeoutMs);
  return new Promise((resolveRun, reject) =>
    child.on("exit", (status) => {
      clearTimeout(timer);
      if (status === 0) resolveRun(out);
      else reject(new Error(`${label} exited ${status}: ${err.slice(-2000)}`));
    }),
  );
}

export function events(runDir: string): StoredEvent[] {
  return readEvents(join(runDir, "events.jsonl"));
}

/** Resolves once `predicate` holds for the run's events (polling), or rejects after `timeoutMs`. */
export async function waitForEvents(
  runDir: string,
  predicate: (events: StoredEvent[]) => boolean,
  timeoutMs: number,
): Promise<StoredEvent[]> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const e = events(runDir);
    if (predicate(e)) return e;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`waitForEvents: timed out; events so far: ${JSON.stringify(events(runDir)).slice(0, 2000)}`);
}

/** The params of a checkpoint ("last", "best" or a path) as one flat array, in order. */
export function flatParams(runDir: string, which = "last"): Float32Array {
  const ckpt = readCheckpoint(resolveCheckpoint(runDir, which));
  const out = new Float32Array(ckpt.params.reduce((n, p) => n + p.data.length, 0));
  let offset = 0;
  for (const p of ckpt.params) {
    out.set(p.data, offset);
    offset += p.data.length;
  }
  return out;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until none of `pids` runs or `timeoutMs` passed; the ones still alive. */
export async function waitUntilGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(pidAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    alive = pids.filter(pidAlive);
  }
  return alive;
}

/** The child processes of the coordinator (its local workers). */
export function workerPids(coordinatorPid: number): number[] {
  try {
    const out = execFileSync("ps", ["-o", "pid=", "--ppid", String(coordinatorPid)], { encoding: "utf8" }).trim();
    return out ? out.split(/\s+/).map(Number) : [];
  } catch {
    return []; // ps exits 1 when no process matches
  }
}

export function fileExists(path: string): boolean {
  return existsSync(path);
}

export function json(path: string): unknown {
  return JSON.parse(readFileSync(path, "utf8"));
}
