import { describe, expect, it } from "vitest";
import { learningRateAt } from "../../../src/train/lrSchedule.js";

describe("learningRateAt", () => {
  it("keeps the rate for the constant schedule", () => {
    for (const step of [0, 7, 999])
      expect(learningRateAt(step, { name: "constant", lr: 5e-4, totalSteps: 1000 })).toBe(5e-4);
  });

  it.each([
    // step, expected fraction of lr (warm-up 10 steps, 110 in all, floor 0.02)
    [0, 0.1],
    [4, 0.5],
    [9, 1],
    [10, 1],
    [60, 0.02 + 0.98 * 0.5],
    [110, 0.02],
    [500, 0.02],
  ])("cosine at step %i is %f of lr", (step, fraction) => {
    const lr = learningRateAt(step, { name: "cosine", lr: 1e-3, totalSteps: 110, warmupSteps: 10 });
    expect(lr).toBeCloseTo(1e-3 * fraction, 9);
  });

  it("decreases monotonically after the warm-up", () => {
    let previous = Number.POSITIVE_INFINITY;
    for (let step = 10; step <= 110; step++) {
      const lr = learningRateAt(step, { name: "cosine", lr: 1e-3, totalSteps: 110, warmupSteps: 10 });
      expect(lr).toBeLessThanOrEqual(previous);
      previous = lr;
    }
  });
});
