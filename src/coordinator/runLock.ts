/**
 * RUN/.lock: one coordinator per run directory. Two `train` on the same --out (or a --resume of a run still
 * going) would otherwise both write checkpoints, events and config.json into it.
 *
 * The lock file is created with O_EXCL (a temp file hard-linked into place, so it appears complete or not at
 * all) and holds {pid, host, startedAt, token}. It is held until the process exits (normal return, an error,
 * SIGINT/SIGTERM) and removed only by its owner (the token says whose it is).
 *
 * A lock is stale, and taken over (saying so), when
 *   - its host is this host and its pid is not running, or
 *   - its host is another host and the file has not been refreshed for STALE_AFTER_MS: the holder touches it
 *     every REFRESH_MS, so a lock from a shared filesystem whose owner died stops blocking after 10 minutes.
 * A lock file that cannot be parsed (torn by a crash between create and write) is stale as well.
 * Two processes taking over the same stale lock at once: each renames the stale file away and checks that what
 * it moved is the stale lock it read; the one that moved a live lock puts it back and refuses.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { inputError } from "../errors.js";

export const LOCK_FILE = ".lock";
const REFRESH_MS = 60_000;
export const STALE_AFTER_MS = 10 * 60_000;

export interface LockHolder {
  pid: number;
  host: string;
  startedAt: string;
  token: string;
}

export interface RunLock {
  readonly path: string;
  release(): void;
}

/** Takes RUN/.lock (runDir must exist) or throws InputError naming the holder. */
export function acquireRunLock(runDir: string, log: (line: string) => void): RunLock {
  const path = join(runDir, LOCK_FILE);
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    token: randomBytes(8).toString("hex"),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(path, me)) return holdLock(path, me);
    const seen = readHolder(path);
    if (seen === "gone") continue;
    const staleBecause = whyStale(path, seen);
    if (!staleBecause && seen !== "torn") throw inUse(runDir, seen);
    if (takeOver(path, seen)) log(`${path}: taking over a stale lock (${staleBecause})`);
  }
  const seen = readHolder(path);
  throw seen === "gone" || seen === "torn" ? inputError(runDir, "its lock keeps changing hands") : inUse(runDir, seen);
}

/** The live holder of a run directory's lock, or null; for a friendly refusal before any work is done. */
export function liveLockHolder(runDir: string): LockHolder | null {
  const path = join(runDir, LOCK_FILE);
  const seen = readHolder(path);
  if (seen === "gone" || seen === "torn" || whyStale(path, seen)) return null;
  return seen;
}

export function lockInUseError(runDir: string, holder: LockHolder): Error {
  return inUse(runDir, holder);
}

function inUse(runDir: string, holder: LockHolder): Error {
  return inputError(runDir, `is in use by pid ${holder.pid} on ${holder.host} since ${holder.startedAt}`);
}

function tryCreate(path: string, me: LockHolder): boolean {
  const temp = `${path}.tmp-${me.pid}-${me.token}`;
  const fd = openSync(temp, "wx", 0o644);
  try {
    const bytes = Buffer.from(`${JSON.stringify(me)}\n`);
    writeSync(fd, bytes, 0, bytes.byteLength);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path); // fails with EEXIST when someone holds it: the atomic part
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    rmSync(temp, { force: true });
  }
}

function readHolder(path: string): LockHolder | "gone" | "torn" {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    throw error;
  }
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (
      Number.isInteger(value.pid) &&
      typeof value.host === "string" &&
      typeof value.startedAt === "string" &&
      typeof value.token === "string"
    ) {
      return value as LockHolder;
    }
  } catch {
    // not JSON
  }
  return "torn";
}

/** Why the lock seen at path no longer protects anything, or null while its holder lives. */
function whyStale(path: string, seen: LockHolder | "torn"): string | null {
  if (seen === "torn") return "the lock file is unreadable";
  if (seen.host === hostname()) return pidRunning(seen.pid) ? null : `pid ${seen.pid} is not running`;
  let age: number;
  try {
    age = Date.now() - statSync(path).mtimeMs;
  } catch {
    return "the lock file is gone";
  }
  if (age < STALE_AFTER_MS) return null;
  return `pid ${seen.pid} on ${seen.host} has not refreshed it for ${Math.round(age / 60_000)} minutes`;
}

function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // alive, someone else's
  }
}

/** Moves the stale lock away; true when what was moved is the stale lock we judged. */
function takeOver(path: string, stale: LockHolder | "torn"): boolean {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false; // someone else took it over
    throw error;
  }
  const moved = readHolder(aside);
  const same =
    stale === "torn" ? moved === "torn" : moved !== "gone" && moved !== "torn" && moved.token === stale.token;
  if (!same) {
    // We moved a lock just taken by another process: put it back (never over a newer one) and let the loop refuse.
    try {
      linkSync(aside, path);
    } catch {
      // a third lock took its place; the loop reads that one
    }
  }
  rmSync(aside, { force: true });
  return same;
}

function holdLock(path: string, me: LockHolder): RunLock {
  const refresh = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // the directory went away; nothing to protect
    }
  }, REFRESH_MS);
  refresh.unref();
  // Before the coordinator installs its own graceful handlers, a signal ends the process: release first.
  const onSignal = (signal: NodeJS.Signals) => {
    if (process.listenerCount(signal) > 1) return; // the run's own handler stops it gracefully
    release();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    clearInterval(refresh);
    process.off("exit", release);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    const seen = readHolder(path);
    if (seen !== "gone" && seen !== "torn" && seen.token === me.token) rmSync(path, { force: true });
  };
  process.on("exit", release);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return { path, release };
}
