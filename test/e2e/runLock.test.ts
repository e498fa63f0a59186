import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { events, run, start, tempRun } from "./trainHelpers.js";

const smoke = (out: string) => [
  "--preset",
  "smoke",
  "--gpus",
  "2",
  "--epochs",
  "2",
  "--out",
  out,
  "--metrics-port",
  "0",
];

describe("the run directory lock", () => {
  it("two trains 0.3 s apart on the same --out: one runs, the other exits 2 naming the holder", async () => {
    const out = tempRun("lock");
    const first = start(smoke(out));
    await new Promise((r) => setTimeout(r, 300));
    const second = start(smoke(out));
    const results = await Promise.all([first.done, second.done]);
    const refused = results.filter((r) => r.code === 2);
    const ran = results.filter((r) => r.code === 0);
    expect(ran).toHaveLength(1);
    expect(refused).toHaveLength(1);
    const winnerPid = results[0].code === 0 ? first.child.pid : second.child.pid;
    const lines = refused[0].stderr.trim().split("\n");
    expect(lines.at(-1)).toMatch(
      new RegExp(`^orchestrate: ${out}: is in use by pid ${winnerPid} on ${hostname()} since \\d{4}-\\d\\d-\\d\\dT`),
    );
    // one run's worth of events: one start, each step once
    const e = events(out);
    expect(e.filter((x) => x.type === "start")).toHaveLength(1);
    const steps = e.filter((x) => x.type === "step").map((x) => (x.type === "step" ? x.step : -1));
    expect(steps.length).toBeGreaterThan(0);
    expect(new Set(steps).size).toBe(steps.length);
    expect(existsSync(join(out, ".lock"))).toBe(false); // released at the end

    // --resume of a directory whose lock is live is refused the same way
    const resumed = start(["--resume", out, "--epochs", "4", "--metrics-port", "0"]);
    await new Promise((r) => setTimeout(r, 300));
    const again = await run(["--resume", out, "--epochs", "4", "--metrics-port", "0"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(new RegExp(`is in use by pid ${resumed.child.pid} on `));
    expect((await resumed.done).code).toBe(0);
  });

  it("a stale lock (a pid that no longer runs on this host) is taken over, saying so", async () => {
    const out = tempRun("stalelock");
    mkdirSync(out, { recursive: true });
    const dead = Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout);
    const lock = { pid: dead, host: hostname(), startedAt: "2026-01-01T00:00:00.000Z", token: "0123" };
    writeFileSync(join(out, ".lock"), JSON.stringify(lock));
    const result = await run(smoke(out));
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`taking over a stale lock \\(pid ${dead} is not running\\)`));
    expect(existsSync(join(out, ".lock"))).toBe(false);
  });
});
