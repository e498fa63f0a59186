import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { addonCalls, expectNativeMatchesPlain, onCpuBackend, randomTensor, useNative } from "./nativeHarness.js";

onCpuBackend();

describe("Slice native kernel", () => {
  it.each([1, 3, 16])("channels 1..C-1 and a spatial window of [2,5,7,3,%i]: equals the plain kernel", (c) => {
    const x = randomTensor([2, 5, 7, 3, c], c);
    expectNativeMatchesPlain("slice", () => [
      tf.slice(x, [0, 1, 2, 0, c > 1 ? 1 : 0], [2, 3, 4, 3, c > 1 ? c - 1 : 1]),
      tf.slice(x, [1, 0, 3, 1, 0], [1, 5, 3, 2, c]),
    ]);
  });

  it("a 41k-element slice of a 5D tensor (OpenMP path): equals the plain kernel", () => {
    const x = randomTensor([2, 12, 13, 14, 16], 5);
    expectNativeMatchesPlain("slice", () => [tf.slice(x, [0, 1, 1, 0, 2], [2, 11, 11, 14, 12])]);
  });

  it("slices int32 tensors and leaves contiguous ranges to the plain kernel's views", () => {
    const x = tf.tensor(
      Int32Array.from({ length: 60 }, (_, i) => i * 7 - 3),
      [3, 4, 5],
      "int32",
    );
    useNative();
    expect(tf.slice(x, [1, 1, 1], [2, 2, 3]).arraySync()).toEqual(
      [1, 2].map((i) => [1, 2].map((j) => [1, 2, 3].map((k) => (i * 20 + j * 5 + k) * 7 - 3))),
    );
    expect(addonCalls.get("slice")).toBe(1);
    tf.slice(x, [1, 0, 0], [2, 4, 5]);
    expect(addonCalls.get("slice")).toBe(1);
  });
});
