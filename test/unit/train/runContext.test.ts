import { describe, expect, it } from "vitest";
import { makeRunContext, stepSeed } from "../../../src/train/runContext.js";

describe("RunContext", () => {
  it("is built once from rank and world size; rank 0 is the main rank", () => {
    expect(makeRunContext(0, 3, 2)).toEqual({ rank: 0, worldSize: 3, isMain: true, generation: 2 });
    expect(makeRunContext(2, 3, 0).isMain).toBe(false);
    expect(Object.isFrozen(makeRunContext(1, 2, 0))).toBe(true);
  });

  it.each([
    [3, 3],
    [-1, 2],
    [0, 0],
    [0.5, 2],
  ])("refuses rank %d of %d", (rank, world) => {
    expect(() => makeRunContext(rank, world, 0)).toThrow(RangeError);
  });
});

describe("stepSeed", () => {
  it("is a function of (seed, rank, step) alone, and differs when any of them does", () => {
    const seen = new Set<number>();
    for (const seed of [0, 1, 7])
      for (const rank of [0, 1, 2, 3])
        for (let step = 0; step < 50; step++) {
          const s = stepSeed(seed, rank, step);
          expect(s).toBe(stepSeed(seed, rank, step));
          expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
          seen.add(s);
        }
    expect(seen.size).toBe(3 * 4 * 50);
  });
});
