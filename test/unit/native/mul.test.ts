import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { addonCalls, expectNativeMatchesPlain, onCpuBackend, randomTensor, useNative } from "./nativeHarness.js";

onCpuBackend();

describe("Mul native kernel", () => {
  it.each([1, 3, 16])("same shape [2,5,7,3,%i] and a scale on either side: equals the plain kernel", (c) => {
    const a = randomTensor([2, 5, 7, 3, c], c);
    const b = randomTensor([2, 5, 7, 3, c], 40 + c);
    const scale = randomTensor([], 7);
    expectNativeMatchesPlain("mul", () => [tf.mul(a, b), tf.mul(a, scale), tf.mul(scale, b)]);
  });

  it("41k elements times a per-channel factor (OpenMP path): equals the plain kernel", () => {
    const a = randomTensor([2, 9, 11, 13, 16], 1);
    const b = randomTensor([1, 1, 1, 16], 2);
    expectNativeMatchesPlain("mul", () => [tf.mul(a, b), tf.mul(b, a)]);
  });

  it("leaves middle-axis broadcasts and int32 to the plain kernel", () => {
    useNative();
    expect(tf.mul(randomTensor([2, 3, 4], 1), randomTensor([3, 1], 2)).shape).toEqual([2, 3, 4]);
    expect(tf.mul(tf.tensor([2, 3], [2], "int32"), tf.tensor([4, 5], [2], "int32")).arraySync()).toEqual([8, 15]);
    expect(addonCalls.get("mul") ?? 0).toBe(0);
  });
});
