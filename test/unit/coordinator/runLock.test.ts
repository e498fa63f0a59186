import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acquireRunLock, LOCK_FILE, liveLockHolder, STALE_AFTER_MS } from "../../../src/coordinator/runLock.js";
import { InputError } from "../../../src/errors.js";

function runDir(): string {
  return mkdtempSync(join(tmpdir(), "voxring-lock-"));
}

/** A pid that certainly ran and certainly no longer does. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(child.stdout);
}

function writeLock(dir: string, holder: { pid: number; host: string }) {
  const lock = { ...holder, startedAt: "2026-01-01T00:00:00.000Z", token: "feedface" };
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify(lock));
}

describe("run directory lock", () => {
  it("holds pid, host and start time, refuses a second taker naming the holder, and is removed on release", () => {
    const dir = runDir();
    const lines: string[] = [];
    const lock = acquireRunLock(dir, (l) => lines.push(l));
    const held = JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8"));
    expect(held).toMatchObject({ pid: process.pid, host: hostname() });
    expect(Number.isNaN(Date.parse(held.startedAt))).toBe(false);
    expect(() => acquireRunLock(dir, (l) => lines.push(l))).toThrow(
      new RegExp(`${dir}: is in use by pid ${process.pid} on ${hostname()} since ${held.startedAt}`),
    );
    expect(liveLockHolder(dir)?.pid).toBe(process.pid);
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    expect(lines).toEqual([]);
    acquireRunLock(dir, () => {}).release(); // free again
  });

  const stale: [string, (dir: string) => void, RegExp][] = [
    [
      "a dead pid on this host",
      (dir) => writeLock(dir, { pid: deadPid(), host: hostname() }),
      /pid \d+ is not running/,
    ],
    ["a torn lock file", (dir) => writeFileSync(join(dir, LOCK_FILE), '{"pid": 12'), /unreadable/],
    [
      "another host's lock not refreshed for longer than the limit",
      (dir) => {
        writeLock(dir, { pid: 1, host: "host-elsewhere" });
        const old = new Date(Date.now() - STALE_AFTER_MS - 60_000);
        utimesSync(join(dir, LOCK_FILE), old, old);
      },
      /pid 1 on host-elsewhere has not refreshed it for 11 minutes/,
    ],
  ];
  it.each(stale)("takes over %s, saying so", (_what, make, said) => {
    const dir = runDir();
    make(dir);
    expect(liveLockHolder(dir)).toBeNull();
    const lines: string[] = [];
    const lock = acquireRunLock(dir, (l) => lines.push(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(said);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).pid).toBe(process.pid);
    lock.release();
  });

  it("refuses a fresh lock of another host, and never removes a lock that is not its own", () => {
    const dir = runDir();
    writeLock(dir, { pid: 4242, host: "host-a" });
    let error: unknown;
    try {
      acquireRunLock(dir, () => {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(/is in use by pid 4242 on host-a since 2026-01-01T00:00:00.000Z/);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).host).toBe("host-a");
  });
});
