import { describe, expect, it } from "vitest";
import { allFinite, DynamicLossScaler } from "../../../src/train/lossScale.js";

describe("DynamicLossScaler", () => {
  it("starts at 2^15, halves and skips on overflow, doubles after the growth interval", () => {
    const scaler = new DynamicLossScaler({ growthInterval: 3 });
    expect(scaler.scale).toBe(32768);
    expect(scaler.update(false)).toBe(false);
    expect(scaler.scale).toBe(16384);
    expect([scaler.update(true), scaler.update(true)]).toEqual([true, true]);
    expect(scaler.scale).toBe(16384);
    expect(scaler.update(true)).toBe(true);
    expect(scaler.scale).toBe(32768);
    // An overflow resets the run of good steps.
    scaler.update(true);
    scaler.update(true);
    scaler.update(false);
    scaler.update(true);
    scaler.update(true);
    expect(scaler.scale).toBe(16384);
  });

  it("uses PyTorch's defaults and round-trips its state", () => {
    const scaler = new DynamicLossScaler();
    for (let i = 0; i < 1999; i++) scaler.update(true);
    expect(scaler.scale).toBe(32768);
    const restored = new DynamicLossScaler();
    restored.setState(scaler.getState());
    restored.update(true);
    expect(restored.scale).toBe(65536);
    expect(scaler.scale).toBe(32768);
  });
});

describe("allFinite", () => {
  it("finds an Inf or NaN anywhere", () => {
    const values = Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i) * 1e30);
    expect(allFinite(values)).toBe(true);
    values[1000] = Number.NaN;
    expect(allFinite(values)).toBe(false);
    values[1000] = 1;
    values[3] = Number.NEGATIVE_INFINITY;
    expect(allFinite(values)).toBe(false);
  });

  // Every position of lengths that leave every tail length after the blocks of four, every kind of bad value.
  it.each([1, 2, 3, 4, 5, 6, 7, 9])("of %i values, at every position, as the one-by-one test says", (n) => {
    const values = Float32Array.from({ length: n }, (_, i) => (i % 2 ? -1 : 1) * (i + 1) * 1e-3);
    const oneByOne = (v: Float32Array) => v.every((x) => Number.isFinite(x));
    for (let at = 0; at < n; at++) {
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        values[at] = bad;
        expect(allFinite(values)).toBe(oneByOne(values));
        expect(allFinite(values)).toBe(false);
      }
      values[at] = 0;
    }
    expect(allFinite(values)).toBe(true);
  });

  it("takes the largest finite floats, added up, as finite", () => {
    expect(allFinite(new Float32Array(9).fill(3.4028234663852886e38))).toBe(true);
    expect(allFinite(new Float32Array(9).fill(-3.4028234663852886e38))).toBe(true);
  });
});
