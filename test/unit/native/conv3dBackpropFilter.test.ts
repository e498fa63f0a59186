import * as tf from "@tensorflow/tfjs";
import { describe, it } from "vitest";
import { type ConvCase, expectNativeMatchesPlain, onCpuBackend, randomTensor } from "./nativeHarness.js";

onCpuBackend();

// [batch, inChannels, outChannels, filter, strides, pad] on a 7×5×9 (D×H×W) x.
const cases: ConvCase[] = [
  [1, 1, 1, [3, 3, 3], [1, 1, 1], "same"],
  [2, 3, 16, [3, 3, 3], [1, 1, 1], "valid"],
  [2, 16, 3, [3, 3, 3], [2, 2, 2], "same"],
  [1, 16, 16, [3, 3, 3], [2, 2, 2], "valid"],
  [2, 2, 16, [3, 3, 3], [1, 1, 1], "same"],
  [2, 16, 3, [1, 1, 1], [1, 1, 1], "valid"],
  [1, 16, 3, [2, 2, 2], [2, 2, 2], "same"],
];

describe("Conv3DBackpropFilterV2 native kernel", () => {
  it.each(cases)(
    "batch %i, %i→%i channels, filter %j, strides %j, %s: equals the plain kernel",
    (n, ci, co, f, s, pad) => {
      const x = randomTensor([n, 7, 5, 9, ci], 19 + ci);
      const filterShape: [number, number, number, number, number] = [...f, ci, co];
      const outShape = tf.backend_util.computeConv3DInfo([n, 7, 5, 9, ci], filterShape, s, 1, pad).outShape;
      const dy = randomTensor(outShape, 29 + co);
      expectNativeMatchesPlain("conv3dBackpropFilter", () => [
        tf.engine().runKernel(tf.Conv3DBackpropFilterV2, { x, dy }, { strides: s, pad, filterShape }) as tf.Tensor,
      ]);
    },
  );
});
