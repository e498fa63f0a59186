import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { addonCalls, expectNativeMatchesPlain, onCpuBackend, randomTensor, useNative } from "./nativeHarness.js";

onCpuBackend();

describe("SplitV native kernel", () => {
  it.each([
    [[1, 1], 2],
    [[3, 16], 19],
    [[16, 16], 32],
  ])("last axis into %j of [2,5,7,3,%i]: equals the plain kernel", (sizes, channels) => {
    const x = randomTensor([2, 5, 7, 3, channels], channels);
    expectNativeMatchesPlain("split", () => tf.split(x, sizes, -1));
  });

  it.each([1, 2, 3, 4])("axis %i of a 41k-element tensor, three uneven parts: equals the plain kernel", (axis) => {
    const shape = [2, 9, 11, 13, 16];
    const x = randomTensor(shape, 3 + axis);
    const sizes = [1, 2, shape[axis] - 3];
    expectNativeMatchesPlain("split", () => tf.split(x, sizes, axis));
  });

  it("is what the gradient of concat runs", () => {
    const a = randomTensor([2, 5, 7, 3, 3], 1);
    const b = randomTensor([2, 5, 7, 3, 16], 2);
    const w = randomTensor([2, 5, 7, 3, 19], 3);
    expectNativeMatchesPlain("split", () =>
      tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.concat([p, q], -1), w)))([a, b]),
    );
  });

  it("leaves a split on the first axis (contiguous views) to the plain kernel", () => {
    const x = randomTensor([4, 3, 5], 9);
    useNative();
    const [p, q] = tf.split(x, [1, 3], 0);
    expect(p.shape).toEqual([1, 3, 5]);
    expect(q.shape).toEqual([3, 3, 5]);
    expect(addonCalls.get("split") ?? 0).toBe(0);
  });
});
