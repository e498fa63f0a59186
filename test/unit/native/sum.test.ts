import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { contiguousReduction } from "../../../src/native/kernels/Sum.js";
import { addonCalls, expectNativeMatchesPlain, onCpuBackend, randomTensor, useNative } from "./nativeHarness.js";

onCpuBackend();

describe("Sum native kernel", () => {
  it.each([1, 3, 16])(
    "over N, D, H, W of [2,5,7,3,%i] (a bias gradient), keepDims both: equals the plain kernel",
    (c) => {
      const x = randomTensor([2, 5, 7, 3, c], c);
      expectNativeMatchesPlain("sum", () => [tf.sum(x, [0, 1, 2, 3]), tf.sum(x, [0, 1, 2, 3], true)]);
    },
  );

  it.each([[[0, 1, 2, 3, 4]], [[4]], [[1, 2, 3]], [[0]], [[2, 3]]])(
    "axes %j of a 41k-element tensor: equals the plain kernel",
    (axes) => {
      const x = randomTensor([2, 9, 11, 13, 16], 3);
      expectNativeMatchesPlain("sum", () => [tf.sum(x, axes)]);
    },
  );

  it("leaves non-contiguous axes and int32 to the plain kernel", () => {
    useNative();
    expect(tf.sum(randomTensor([2, 3, 4], 1), [0, 2]).shape).toEqual([3]);
    expect(tf.sum(tf.tensor([1, 2, 3], [3], "int32")).arraySync()).toBe(6);
    expect(addonCalls.get("sum") ?? 0).toBe(0);
  });
});

describe("contiguousReduction", () => {
  it.each([
    [
      [2, 3, 4, 5],
      [0, 1, 2],
      [1, 24, 5],
    ],
    [[2, 3, 4, 5], [3], [24, 5, 1]],
    [
      [2, 3, 4, 5],
      [2, 1],
      [2, 12, 5],
    ],
    [[2, 3, 4, 5], [0, 2], null],
  ])("%j over %j → %j", (shape, axes, expected) => {
    expect(contiguousReduction(shape, axes)).toEqual(expected);
  });
});
