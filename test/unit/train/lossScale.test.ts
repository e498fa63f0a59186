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
});
