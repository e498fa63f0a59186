import * as tf from "@tensorflow/tfjs";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildLayersModel } from "../../../src/inference/exportTfjs.js";
import { inferenceUNetOf } from "../../../src/inference/exportUNet.js";
import { buildOnnxModel } from "../../../src/inference/onnxExport.js";
import { swapLastAxes } from "../../../src/inference/predictEngine.js";
import { createUNet, type UNet } from "../../../src/model/unet.js";
import { maxAbsDiff, randomArray, randomiseStatistics } from "./helpers.js";

let unet: UNet;

beforeAll(async () => {
  await tf.setBackend("cpu");
  unet = createUNet({ inChannels: 2, numClasses: 3, channels: [4, 8, 16] }, 21);
  randomiseStatistics(unet, 22); // a fresh net's identity statistics would hide folding mistakes
});
afterAll(() => unet.dispose());

describe("export of the training U-Net", () => {
  it("tfjs LayersModel and onnxruntime match the U-Net in eval mode (max abs diff ≤ 1e-4)", async () => {
    const [N, D, H, W, C] = [2, 8, 12, 4, 2];
    const input = randomArray(N * D * H * W * C, 23);
    const x = tf.tensor5d(input, [N, D, H, W, C]);
    const reference = tf.tidy(() => tf.softmax(unet.apply(x, false)).dataSync() as Float32Array);

    const net = inferenceUNetOf(unet);
    const model = buildLayersModel(net);
    const layers = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
    model.dispose();
    x.dispose();

    const session = await ort.InferenceSession.create(buildOnnxModel(net, { producerVersion: "test" }));
    const result = await session.run({
      image: new ort.Tensor("float32", swapLastAxes(input, N, D * H * W, C), [N, C, D, H, W]),
    });
    const onnx = swapLastAxes(result.probabilities.data as Float32Array, N, 3, D * H * W);
    await session.release();

    expect(Math.max(...reference) - Math.min(...reference)).toBeGreaterThan(0.1);
    expect(maxAbsDiff(layers, reference)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(onnx, reference)).toBeLessThanOrEqual(1e-4);
  });

  it("names a missing weight", () => {
    const weights = [...unet.params, ...unet.stats].filter((p) => p.name !== "dec.1.4.running_var");
    const broken = { ...unet, params: weights, stats: [] };
    expect(() => inferenceUNetOf(broken)).toThrow(/dec\.1\.4\.running_var is missing/);
  });
});
