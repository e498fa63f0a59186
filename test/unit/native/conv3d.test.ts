import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { loadNative } from "../../../src/native/addon.js";
import {
  addonCalls,
  type ConvCase,
  expectNativeMatchesPlain,
  onCpuBackend,
  randomTensor,
  useNative,
} from "./nativeHarness.js";

onCpuBackend();

// [batch, inChannels, outChannels, filter, strides, pad] on a 7×5×9 (D×H×W) input: odd sizes, so 'same' with
// stride 2 pads unevenly; 2→16 and 16→3 are the U-Net's first layer and head.
const cases: ConvCase[] = [
  [1, 1, 1, [3, 3, 3], [1, 1, 1], "same"],
  [2, 3, 16, [3, 3, 3], [1, 1, 1], "valid"],
  [2, 16, 3, [3, 3, 3], [2, 2, 2], "same"],
  [1, 16, 16, [3, 3, 3], [2, 2, 2], "valid"],
  [2, 2, 16, [3, 3, 3], [1, 1, 1], "same"],
  [1, 16, 3, [1, 1, 1], [1, 1, 1], "valid"],
  [2, 3, 1, [2, 2, 2], [2, 2, 2], "same"],
  [1, 3, 16, [1, 3, 2], [1, 2, 1], "same"],
];

describe("Conv3D native kernel", () => {
  it.each(cases)(
    "batch %i, %i→%i channels, filter %j, strides %j, %s: equals the plain kernel",
    (n, ci, co, f, s, pad) => {
      const x = randomTensor([n, 7, 5, 9, ci], 11 + ci) as tf.Tensor5D;
      const w = randomTensor([...f, ci, co], 23 + co) as tf.Tensor5D;
      expectNativeMatchesPlain("conv3d", () => [tf.conv3d(x, w, s, pad)]);
    },
  );

  it.each(cases)(
    "batch %i, %i→%i channels, filter %j, strides %j, %s: tf.grad equals plain",
    (n, ci, co, f, s, pad) => {
      const x = randomTensor([n, 7, 5, 9, ci], 31 + ci) as tf.Tensor5D;
      const w = randomTensor([...f, ci, co], 37 + co) as tf.Tensor5D;
      const y = tf.conv3d(x, w, s, pad);
      const r = randomTensor(y.shape, 41);
      const loss = (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv3d(a as tf.Tensor5D, b as tf.Tensor5D, s, pad), r));
      expectNativeMatchesPlain("conv3dBackpropFilter", () => tf.grads(loss)([x, w]));
      expect(addonCalls.get("conv3dBackpropInput") ?? 0).toBeGreaterThan(0);
    },
  );

  it("falls back to the plain kernel for dilated convolutions", () => {
    const x = randomTensor([1, 7, 5, 9, 3], 5) as tf.Tensor5D;
    const w = randomTensor([3, 3, 3, 3, 2], 6) as tf.Tensor5D;
    expectNativeMatchesPlain("conv3d", () => [tf.conv3d(x, w, 1, "same")]);
    useNative();
    const dilated = tf.conv3d(x, w, 1, "same", "NDHWC", [2, 2, 2]);
    expect(dilated.shape).toEqual([1, 7, 5, 9, 2]);
    expect(addonCalls.get("conv3d") ?? 0).toBe(0);
  });

  it("stays right when more shapes pass than the primitive cache holds (64), evicting and rebuilding", () => {
    const w = randomTensor([1, 1, 1, 2, 3], 12) as tf.Tensor5D;
    const inputs = Array.from({ length: 70 }, (_, i) => randomTensor([1, 1, 1, i + 1, 2], 100 + i) as tf.Tensor5D);
    // The first shape is evicted by the 69 after it, then built again by the second pass.
    expectNativeMatchesPlain("conv3d", () => [...inputs, inputs[0]].map((x) => tf.conv3d(x, w, 1, "valid")));
  });

  it("stays right when the thread count changes between calls of one shape", () => {
    const addon = loadNative();
    if (!addon) throw new Error("native addon not built");
    const x = randomTensor([2, 7, 5, 9, 16], 13) as tf.Tensor5D;
    const w = randomTensor([3, 3, 3, 16, 16], 14) as tf.Tensor5D;
    const before = addon.setNumThreads(2);
    try {
      for (const threads of [2, 1, 2]) {
        addon.setNumThreads(threads);
        expectNativeMatchesPlain("conv3d", () => [tf.conv3d(x, w, 1, "same")]);
      }
    } finally {
      addon.setNumThreads(before);
    }
  });

  it("refuses buffers that disagree with the geometry instead of reading or writing past them", () => {
    const addon = loadNative();
    if (!addon) throw new Error("native addon not built");
    const geometry = [1, 3, 3, 3, 2, 3, 3, 3, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    const x = new Float32Array(54);
    const filter = new Float32Array(216);
    expect(() => addon.conv3d(x, filter, new Float32Array(107), geometry)).toThrow(/y has 107 elements, expected 108/);
    expect(() => addon.conv3d(x, filter, new Float32Array(108), geometry.slice(1))).toThrow(/geometry must hold 21/);
    expect(() => addon.maxPool3dGrad(new Float32Array(1), x, x, geometry)).toThrow(/channel count/);
  });

  it("reuses cached primitives when the same shapes come back", () => {
    const x = randomTensor([1, 5, 5, 5, 4], 7) as tf.Tensor5D;
    const w1 = randomTensor([3, 3, 3, 4, 4], 8) as tf.Tensor5D;
    const w2 = randomTensor([3, 3, 3, 4, 4], 9) as tf.Tensor5D;
    // Same shape, different weights: a cache that kept stale reordered weights would return w1's answer.
    expectNativeMatchesPlain("conv3d", () => [tf.conv3d(x, w1, 1, "same"), tf.conv3d(x, w2, 1, "same")]);
  });
});
