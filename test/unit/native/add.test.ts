import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { trailingBroadcastShape } from "../../../src/native/kernels/broadcast.js";
import { addonCalls, expectNativeMatchesPlain, onCpuBackend, randomTensor, useNative } from "./nativeHarness.js";

onCpuBackend();

describe("Add native kernel", () => {
  it.each([1, 3, 16])("same shape [2,5,7,3,%i]: equals the plain kernel", (c) => {
    const a = randomTensor([2, 5, 7, 3, c], c);
    const b = randomTensor([2, 5, 7, 3, c], 50 + c);
    expectNativeMatchesPlain("add", () => [tf.add(a, b)]);
  });

  it("same shape, 41k elements (OpenMP path): equals the plain kernel", () => {
    const a = randomTensor([2, 9, 11, 13, 16], 1);
    const b = randomTensor([2, 9, 11, 13, 16], 2);
    expectNativeMatchesPlain("add", () => [tf.add(a, b)]);
  });

  it("a bias over channels and a scalar, on either side: equals the plain kernel", () => {
    const x = randomTensor([2, 5, 7, 3, 3], 3);
    const bias = randomTensor([3], 4);
    const scalar = randomTensor([], 5);
    expectNativeMatchesPlain("add", () => [tf.add(x, bias), tf.add(bias, x), tf.add(scalar, x), tf.add(x, scalar)]);
  });

  it("is how tape gradients of a tensor used twice are accumulated", () => {
    const x = randomTensor([2, 5, 7, 3, 3], 6);
    const w = randomTensor([2, 5, 7, 3, 3], 7);
    expectNativeMatchesPlain("add", () => [
      tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.sin(v), tf.cos(v)), w)))(x),
    ]);
  });

  it("leaves other broadcasts and int32 to the plain kernel", () => {
    useNative();
    const r = tf.add(randomTensor([3, 1], 1), randomTensor([1, 4], 2));
    expect(r.shape).toEqual([3, 4]);
    expect(tf.add(tf.tensor([1, 2], [2], "int32"), tf.tensor([3, 4], [2], "int32")).arraySync()).toEqual([4, 6]);
    expect(addonCalls.get("add") ?? 0).toBe(0);
  });
});

describe("trailingBroadcastShape", () => {
  it.each([
    [[2, 3, 4], [4], [2, 3, 4]],
    [[4], [2, 3, 4], [2, 3, 4]],
    [
      [2, 3, 4],
      [1, 3, 4],
      [2, 3, 4],
    ],
    [[2, 3, 4], [], [2, 3, 4]],
    [
      [1, 1, 3, 4],
      [3, 4],
      [1, 1, 3, 4],
    ],
    [[2, 3, 4], [3, 1], null],
    [[3, 1], [1, 4], null],
    [[2, 3, 4], [2, 1, 4], null],
  ])("%j with %j → %j", (a, b, expected) => {
    expect(trailingBroadcastShape(a, b)).toEqual(expected);
  });
});
