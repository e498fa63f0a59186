import { describe, expect, it } from "vitest";
import {
  argmaxLabels,
  effectiveWindow,
  type PredictFn,
  slidingWindowInference,
  windowStarts,
} from "../../../src/data/slidingWindow.js";
import type { Shape3 } from "../../../src/data/volume.js";
import { Rng } from "../../../src/random.js";

function randomField(voxels: number, channels: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: voxels * channels }, () => rng.uniform(0.1, 2));
}

/** A "model" whose probabilities are its input (channels = classes), so blending must give the input back. */
const identity: PredictFn = async (patches) => patches.slice();

describe("slidingWindowInference", () => {
  it.each([
    { shape: [23, 17, 11] as Shape3, window: [8, 8, 6] as Shape3, overlap: 0.5, batch: 1 },
    { shape: [19, 9, 13] as Shape3, window: [7, 5, 4] as Shape3, overlap: 0.25, batch: 3 },
    { shape: [10, 11, 5] as Shape3, window: [10, 11, 5] as Shape3, overlap: 0.5, batch: 2 },
  ])("gives a known field back through an identity model: %j", async ({ shape, window, overlap, batch }) => {
    const K = 3;
    const field = randomField(shape[0] * shape[1] * shape[2], K, 7);
    const probs = await slidingWindowInference(field, shape, K, {
      window,
      overlap,
      batch,
      numClasses: K,
      predict: identity,
    });
    expect(probs.length).toBe(field.length);
    let maxDiff = 0;
    for (let i = 0; i < field.length; i++) maxDiff = Math.max(maxDiff, Math.abs(probs[i] - field[i]));
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it("reads every voxel and writes every voxel at its own place (odd sizes, uneven last window)", async () => {
    const shape: Shape3 = [21, 13, 9];
    const voxels = shape[0] * shape[1] * shape[2];
    // Channel 0 carries each voxel's own index: the output must carry it back to the same index.
    const ids = Float32Array.from({ length: voxels }, (_, i) => i + 1);
    const seen = new Uint8Array(voxels);
    let calls = 0;
    const predict: PredictFn = async (patches, patchShape, count) => {
      calls++;
      expect(patchShape).toEqual([8, 6, 4]);
      expect(patches.length).toBe(count * 8 * 6 * 4);
      for (const id of patches) seen[id - 1] = 1;
      return patches.slice();
    };
    const out = await slidingWindowInference(ids, shape, 1, { window: [8, 6, 4], numClasses: 1, predict, batch: 4 });
    expect(seen.every((s) => s === 1)).toBe(true);
    expect(calls).toBeGreaterThan(1);
    for (let i = 0; i < voxels; i++) expect(Math.abs(out[i] - ids[i]) / ids[i]).toBeLessThan(1e-5);
  });

  it("pads a volume smaller than the window and crops the result back", async () => {
    const shape: Shape3 = [5, 7, 3];
    const C = 2;
    const field = randomField(shape[0] * shape[1] * shape[2], C, 11);
    const padValue = -5;
    let patchShapeSeen: Shape3 | undefined;
    let padded = 0;
    const predict: PredictFn = async (patches, patchShape) => {
      patchShapeSeen = patchShape;
      for (const v of patches) if (v === padValue) padded++;
      return patches.slice();
    };
    const out = await slidingWindowInference(field, shape, C, {
      window: [96, 96, 32],
      multipleOf: 4,
      padValue,
      numClasses: C,
      predict,
    });
    expect(patchShapeSeen).toEqual([8, 8, 4]);
    expect(padded).toBe((8 * 8 * 4 - 5 * 7 * 3) * C);
    expect(out.length).toBe(field.length);
    for (let i = 0; i < field.length; i++) expect(out[i]).toBeCloseTo(field[i], 5);
  });

  it("blends overlapping windows with weights that favour each window's centre", async () => {
    // Two windows along x (starts 0 and 8); each predicts a constant of its own.
    const shape: Shape3 = [24, 4, 4];
    const volume = new Float32Array(shape[0] * shape[1] * shape[2]).fill(1);
    let call = 0;
    const predict: PredictFn = async (patches) => new Float32Array(patches.length).fill(call++ === 0 ? 0 : 1);
    const out = await slidingWindowInference(volume, shape, 1, { window: [16, 4, 4], numClasses: 1, predict });
    const at = (x: number) => out[(2 * shape[1] + 2) * shape[0] + x];
    expect(at(0)).toBeCloseTo(0, 6); // seen by the first window only
    expect(at(23)).toBeCloseTo(1, 6); // seen by the second window only
    expect(at(8)).toBeLessThan(0.2); // centre of the first window, edge of the second
    expect(at(15)).toBeGreaterThan(0.8);
    for (let x = 1; x < 24; x++) expect(at(x)).toBeGreaterThanOrEqual(at(x - 1));
  });

  it("refuses a predict function that returns the wrong number of values", async () => {
    const predict: PredictFn = async (patches) => new Float32Array(patches.length + 1);
    await expect(
      slidingWindowInference(new Float32Array(8).fill(1), [2, 2, 2], 1, { window: [2, 2, 2], numClasses: 1, predict }),
    ).rejects.toThrow(/predict returned 9 values/);
  });
});

describe("window geometry", () => {
  it.each([
    [10, 10, 0.5, [0]],
    [5, 8, 0.5, [0]],
    [20, 8, 0.5, [0, 4, 8, 12]],
    [21, 8, 0.5, [0, 4, 8, 12, 13]],
    [21, 8, 0.25, [0, 6, 12, 13]],
    [9, 8, 0, [0, 1]],
  ])("size %i window %i overlap %f starts at %j", (size, window, overlap, starts) => {
    expect(windowStarts(size, window, overlap)).toEqual(starts);
  });

  it("caps the window to the volume rounded up to the network's multiple", () => {
    expect(effectiveWindow([200, 180, 72], [192, 192, 64], 16)).toEqual([192, 192, 64]);
    expect(effectiveWindow([150, 90, 40], [192, 192, 64], 16)).toEqual([160, 96, 48]);
    expect(effectiveWindow([150, 90, 40], [100, 100, 30], 1)).toEqual([100, 90, 30]);
  });
});

describe("argmaxLabels", () => {
  it("picks the most probable class, the lower one on ties", () => {
    const probs = Float32Array.from([0.2, 0.5, 0.3, 0.6, 0.1, 0.3, 0.1, 0.1, 0.8, 0.4, 0.4, 0.2]);
    expect(Array.from(argmaxLabels(probs, 3))).toEqual([1, 0, 2, 0]);
  });
});
