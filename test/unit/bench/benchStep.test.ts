import { describe, expect, it } from "vitest";
import { run } from "../../../bench/step.js";

describe("bench step", () => {
  it("times full training steps of a U-Net and reports what the CLI prints", async () => {
    const result = await run({ batch: 1, patch: [8, 8, 4], steps: 2, threads: 1, backend: "cpu", channels: [2, 4] });
    expect(result.backend).toBe("cpu");
    expect(result.params).toBeGreaterThan(1000);
    expect(result.ms_per_step).toBeGreaterThan(0);
    expect(result.voxels_per_s).toBeGreaterThan(0);
    expect(result.peak_rss_mb).toBeGreaterThan(10);
    expect(Array.isArray(result.native_kernels)).toBe(true);
    expect(Number.isFinite(result.final_loss)).toBe(true);
  });

  it("names --patch when it does not pool down to the bench U-Net's depth", async () => {
    await expect(run({ patch: [96, 96, 30] })).rejects.toThrow(/^--patch: 96 96 30 must be divisible by 16/);
  });
});
