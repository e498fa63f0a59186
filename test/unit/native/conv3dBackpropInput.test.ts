import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { unregisterNativeKernels } from "../../../src/native/register.js";
import {
  addonCalls,
  type ConvCase,
  expectClose,
  expectNativeMatchesPlain,
  onCpuBackend,
  randomTensor,
  useNative,
} from "./nativeHarness.js";

onCpuBackend();

// [batch, inChannels (of the forward conv, = dx channels), outChannels (= dy channels), filter, strides, pad];
// dx is 7×5×9 (D×H×W). The 2×2×2 stride-2 rows are the decoder's transposed convolution.
const cases: ConvCase[] = [
  [1, 1, 1, [3, 3, 3], [1, 1, 1], "same"],
  [2, 3, 16, [3, 3, 3], [1, 1, 1], "valid"],
  [2, 16, 3, [3, 3, 3], [2, 2, 2], "same"],
  [1, 16, 16, [3, 3, 3], [2, 2, 2], "valid"],
  [2, 16, 3, [2, 2, 2], [2, 2, 2], "same"],
  [1, 3, 16, [2, 2, 2], [2, 2, 2], "valid"],
  [2, 16, 1, [1, 1, 1], [1, 1, 1], "same"],
  // Strides longer than the filter leave dx positions no dy reaches: they must come out 0, not stale memory.
  [2, 3, 4, [1, 1, 1], [2, 2, 2], "valid"],
  [1, 16, 16, [2, 1, 1], [3, 3, 2], "valid"],
];

describe("Conv3DBackpropInputV2 native kernel", () => {
  it.each(cases)(
    "batch %i, dx %i ch, dy %i ch, filter %j, strides %j, %s: equals the plain kernel",
    (n, ci, co, f, s, pad) => {
      const inputShape: [number, number, number, number, number] = [n, 7, 5, 9, ci];
      const outShape = tf.backend_util.computeConv3DInfo(inputShape, [...f, ci, co], s, 1, pad).outShape;
      const dy = randomTensor(outShape, 13 + co);
      const filter = randomTensor([...f, ci, co], 17 + ci);
      expectNativeMatchesPlain("conv3dBackpropInput", () => [
        tf.engine().runKernel(tf.Conv3DBackpropInputV2, { dy, filter }, { strides: s, pad, inputShape }) as tf.Tensor,
      ]);
    },
  );

  it("leaves tfjs's negative 'same' padding (stride longer than the filter) to the plain kernel", () => {
    // tfjs 4.22 does not clamp 'same' padding at 0 in 3D: here the top padding is −1, which oneDNN cannot express.
    const inputShape: [number, number, number, number, number] = [1, 7, 5, 9, 16];
    const dy = randomTensor([1, 3, 2, 5, 16], 5);
    const filter = randomTensor([2, 1, 1, 16, 16], 6);
    const attrs = { strides: [3, 3, 2], pad: "same", inputShape };
    unregisterNativeKernels();
    const plain = (tf.engine().runKernel(tf.Conv3DBackpropInputV2, { dy, filter }, attrs) as tf.Tensor).dataSync();
    useNative();
    const result = (tf.engine().runKernel(tf.Conv3DBackpropInputV2, { dy, filter }, attrs) as tf.Tensor).dataSync();
    expect(addonCalls.get("conv3dBackpropInput") ?? 0).toBe(0);
    expectClose(result, plain);
  });

  it("runs conv3dTranspose (the U-Net's up-sampling) as the plain kernel does", () => {
    const x = randomTensor([2, 3, 2, 4, 16], 3) as tf.Tensor5D;
    const filter = randomTensor([2, 2, 2, 8, 16], 4) as tf.Tensor5D;
    expectNativeMatchesPlain("conv3dBackpropInput", () => [tf.conv3dTranspose(x, filter, [2, 6, 4, 8, 8], 2, "same")]);
  });
});
