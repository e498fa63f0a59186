import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cli, root } from "./trainHelpers.js";

/** `orchestrate bench allreduce` through the built CLI: real forked processes, a small size (no speed goal here). */
function benchAllReduce(...args: string[]) {
  return spawnSync(process.execPath, [cli, "bench", "allreduce", ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
  });
}

describe("orchestrate bench allreduce", () => {
  // The ring's own buffer (as training uses it) and a plain array copied in and out (--copy).
  for (const copy of [false, true])
    it(`reports busbw, algbw, p2p and the shared-memory copy for 3 workers as one JSON line, having checked the reduced values${copy ? " (--copy)" : ""}`, () => {
      const run = benchAllReduce(
        "--workers",
        "3",
        "--mb",
        "3",
        "--iterations",
        "2",
        "--json",
        ...(copy ? ["--copy"] : []),
      );
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      const result = JSON.parse(run.stdout.trim().split("\n").at(-1) as string);
      expect(result).toMatchObject({ workers: 3, mb: 3, iterations: 2, copy });
      for (const key of ["algbw_GBps", "busbw_GBps", "p2p_GBps", "shm_copy_GBps", "seconds_per_iter"])
        expect(result[key]).toBeGreaterThan(0);
      expect(result.busbw_GBps).toBeCloseTo((result.algbw_GBps * 4) / 3, 2);
    });

  // --amp through shared memory (result rounded to fp16) and over the sockets (half floats on the wire); the
  // children check that every rank ends with the exact mean, which fp16 represents here.
  for (const [transport, wire] of [
    ["auto", "fp16 (result rounded)"],
    ["ipc", "fp16"],
  ] as const) {
    it(`runs --amp over transport ${transport}`, () => {
      const run = benchAllReduce("--workers", "3", "--mb", "2", "--iterations", "1", "--amp", "--transport", transport);
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      const result = JSON.parse(run.stdout);
      expect(result).toMatchObject({ workers: 3, wire });
      expect(result.busbw_GBps).toBeGreaterThan(0);
    });
  }

  // Each rank on a network-namespace host of its own, links shaped with tc tbf, CURVE on: the figures say how
  // much of the link the ring used, and the namespaces are gone afterwards.
  it("runs the ring between 3 namespace hosts on shaped links and reports its share of the link", () => {
    const run = benchAllReduce(
      "--workers",
      "3",
      "--mb",
      "4",
      "--iterations",
      "2",
      "--transport",
      "netns",
      "--rate",
      "500mbit",
      "--json",
    );
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const result = JSON.parse(run.stdout.trim());
    expect(result).toMatchObject({ workers: 3, rate: "500mbit", link_GBps: 0.0625, data_plane: "native" });
    expect(result.transport).toMatch(/CURVE/);
    // The shaper is the bottleneck: the ring and the stream can use at most the link.
    expect(result.p2p_GBps).toBeLessThanOrEqual(0.0625 * 1.05);
    expect(result.busbw_over_link).toBeGreaterThan(0);
    expect(result.busbw_over_link).toBeLessThanOrEqual(1.05);
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toMatch(/vab\d+-h/);
  });

  it.each([
    [
      ["--transport", "netns", "--rate", "fast"],
      /^orchestrate: --rate: expected a tc rate such as 1gbit, or none, got fast$/,
    ],
    [["--transport", "netns", "--workers", "1"], /^orchestrate: --workers: --transport netns needs 2 or more$/],
  ])("refuses %o before building anything", (args, message) => {
    const run = benchAllReduce(...args);
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toMatch(message);
    expect(run.stdout).toBe("");
  });

  it("refuses a bad --workers with one line on stderr and status 2", () => {
    const run = benchAllReduce("--workers", "0", "--json");
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toMatch(/--workers/);
    expect(run.stdout).toBe("");
  });
});
