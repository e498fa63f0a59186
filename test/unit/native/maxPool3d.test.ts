import * as tf from "@tensorflow/tfjs";
import { describe, it } from "vitest";
import { expectNativeMatchesPlain, onCpuBackend, type PoolCase, randomTensor } from "./nativeHarness.js";

onCpuBackend();

// [batch, channels, window, strides, pad] on a 7×5×9 (D×H×W) input; 2×2×2 stride 2 is the U-Net's pooling.
const cases: PoolCase[] = [
  [1, 1, [2, 2, 2], [2, 2, 2], "same"],
  [2, 3, [2, 2, 2], [2, 2, 2], "valid"],
  [2, 16, [2, 2, 2], [2, 2, 2], "same"],
  [1, 16, [3, 3, 3], [1, 1, 1], "same"],
  [2, 3, [3, 2, 3], [2, 1, 2], "valid"],
  [1, 3, [3, 3, 3], [2, 2, 2], 1],
];

describe("MaxPool3D native kernel", () => {
  it.each(cases)("batch %i, %i channels, window %j, strides %j, pad %s: equals the plain kernel", (n, c, f, s, pad) => {
    const x = randomTensor([n, 7, 5, 9, c], 43 + c) as tf.Tensor5D;
    expectNativeMatchesPlain("maxPool3d", () => [tf.maxPool3d(x, f, s, pad, pad === 1 ? "floor" : undefined)]);
  });

  it("pools a ReLU output full of equal zeros as the plain kernel does", () => {
    const x = tf.relu(randomTensor([2, 7, 5, 9, 16], 47)) as tf.Tensor5D;
    expectNativeMatchesPlain("maxPool3d", () => [tf.maxPool3d(x, 2, 2, "same")]);
  });
});
