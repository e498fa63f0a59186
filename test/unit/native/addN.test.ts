import * as tf from "@tensorflow/tfjs";
import { describe, it } from "vitest";
import { expectNativeMatchesPlain, onCpuBackend, randomTensor } from "./nativeHarness.js";

onCpuBackend();

describe("AddN native kernel", () => {
  it.each([
    [[2, 5, 7, 3, 1], 2],
    [[2, 5, 7, 3, 3], 3],
    [[2, 5, 7, 3, 16], 5],
    [[2, 9, 11, 13, 16], 3],
  ])("%j, %i tensors: equals the plain kernel", (shape, count) => {
    const inputs = Array.from({ length: count }, (_, i) => randomTensor(shape, 10 * i + shape[4]));
    expectNativeMatchesPlain("addN", () => [tf.addN(inputs)]);
  });
});
