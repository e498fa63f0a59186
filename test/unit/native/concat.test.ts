import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { addonCalls, expectNativeMatchesPlain, onCpuBackend, randomTensor, useNative } from "./nativeHarness.js";

onCpuBackend();

// Channel counts of the U-Net's decoder concat (skip + upsampled) and odd ones; the last shape crosses the
// OpenMP threshold.
const channelPairs: [number, number][] = [
  [1, 1],
  [3, 16],
  [16, 16],
];

describe("Concat native kernel", () => {
  it.each(channelPairs)("last axis, %i + %i channels on [2,5,7,3,·]: equals the plain kernel", (c1, c2) => {
    const a = randomTensor([2, 5, 7, 3, c1], c1);
    const b = randomTensor([2, 5, 7, 3, c2], 100 + c2);
    expectNativeMatchesPlain("concat", () => [tf.concat([a, b], -1)]);
  });

  it.each([0, 1, 2, 3, 4])("three tensors on axis %i of a 41k-element result: equals the plain kernel", (axis) => {
    const shapes = [1, 2, 3].map((k) => [2, 9, 11, 13, 16].map((d, i) => (i === axis ? k : d)));
    const parts = shapes.map((s, i) => randomTensor(s, 7 + i));
    expectNativeMatchesPlain("concat", () => [tf.concat(parts, axis)]);
  });

  it("concatenates int32 and bool tensors by their bytes", () => {
    const ints = [
      tf.tensor(
        [
          [1, 2],
          [3, 4],
        ],
        [2, 2],
        "int32",
      ),
      tf.tensor([[5], [6]], [2, 1], "int32"),
    ];
    const bools = [
      tf.tensor([[1], [0]], [2, 1], "bool"),
      tf.tensor(
        [
          [0, 1],
          [1, 1],
        ],
        [2, 2],
        "bool",
      ),
    ];
    useNative();
    expect(tf.concat(ints, 1).arraySync()).toEqual([
      [1, 2, 5],
      [3, 4, 6],
    ]);
    expect(tf.concat(bools, 1).arraySync()).toEqual([
      [1, 0, 1],
      [0, 1, 1],
    ]);
    expect(addonCalls.get("concat")).toBe(2);
  });

  it("leaves empty inputs to the plain kernel", () => {
    const a = randomTensor([2, 3, 4], 1);
    useNative();
    expect(tf.concat([a, tf.zeros([2, 3, 0])], 2).shape).toEqual([2, 3, 4]);
    expect(addonCalls.get("concat") ?? 0).toBe(0);
  });
});
