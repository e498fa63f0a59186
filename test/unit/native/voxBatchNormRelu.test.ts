import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { batchNormReluInfer, batchNormReluTrain } from "../../../src/model/ops/batchNormRelu.js";
import { loadNative } from "../../../src/native/addon.js";
import { Rng } from "../../../src/random.js";
import { centralDifference, randomArray, relativeError } from "../model/gradcheck.js";
import {
  addonCalls,
  expectClose,
  expectNativeMatchesPlain,
  onCpuBackend,
  randomTensor,
  useNative,
} from "./nativeHarness.js";

// VoxBatchNormReluTrain / Grad / Infer against the model's plain tfjs ops (the same op dispatches to the plain
// functions while the native kernels are unregistered), and the native gradient against finite differences.

onCpuBackend();

const eps = 1e-5;
// Odd spatial sizes, channel counts 1, 3, 16; the last shape (41,184 elements) crosses the OpenMP threshold.
const shapes: number[][] = [
  [2, 5, 7, 3, 1],
  [2, 5, 7, 3, 3],
  [2, 5, 7, 3, 16],
  [2, 9, 11, 13, 16],
];

function params(channels: number, seed: number) {
  return {
    gamma: randomTensor([channels], seed).add(1) as tf.Tensor1D,
    beta: randomTensor([channels], seed + 1) as tf.Tensor1D,
  };
}

describe("VoxBatchNormReluTrain", () => {
  it.each(shapes.flatMap((s) => [true, false].map((relu) => [s, relu] as const)))(
    "%j relu %s: y, mean and variance equal the plain op",
    (shape, relu) => {
      const x = randomTensor(shape, 11 + shape[4])
        .mul(2)
        .add(0.5);
      const { gamma, beta } = params(shape[4], 3);
      expectNativeMatchesPlain("batchNormReluTrain", () => {
        const r = batchNormReluTrain(x, gamma, beta, { epsilon: eps, relu });
        return [r.y, r.mean, r.variance];
      });
    },
  );

  it("keeps the variance accurate when the mean is large against the spread", () => {
    const rng = new Rng(5);
    const shape = [2, 5, 7, 3, 3];
    const x = randomArray(rng, 630, 0.01, 1000);
    useNative();
    const r = batchNormReluTrain(tf.tensor(x, shape), tf.ones([3]) as tf.Tensor1D, tf.zeros([3]) as tf.Tensor1D, {
      epsilon: eps,
      relu: false,
    });
    expect(addonCalls.get("batchNormReluTrain")).toBe(1);
    const variance = new Float64Array(3);
    const mean = new Float64Array(3);
    for (let i = 0; i < x.length; i++) mean[i % 3] += x[i] / 210;
    for (let i = 0; i < x.length; i++) variance[i % 3] += (x[i] - mean[i % 3]) ** 2 / 210;
    expectClose(r.variance.dataSync(), variance);
    expectClose(r.mean.dataSync(), mean, 1e-6);
  });

  it("gives bitwise the same statistics with 1 and 2 threads", () => {
    const addon = loadNative();
    if (!addon) throw new Error("addon missing");
    const x = randomTensor([2, 9, 11, 13, 16], 8).add(3);
    const { gamma, beta } = params(16, 9);
    useNative();
    const run = (threads: number) => {
      const before = addon.setNumThreads(threads);
      const r = batchNormReluTrain(x, gamma, beta, { epsilon: eps, relu: true });
      addon.setNumThreads(before);
      return [...r.mean.dataSync(), ...r.variance.dataSync()];
    };
    expect(run(1)).toEqual(run(2));
  });
});

describe("VoxBatchNormReluGrad", () => {
  it.each(shapes.flatMap((s) => [true, false].map((relu) => [s, relu] as const)))(
    "%j relu %s: dx, dgamma and dbeta equal the plain op's",
    (shape, relu) => {
      const x = randomTensor(shape, 21 + shape[4]);
      const w = randomTensor(shape, 1022);
      const { gamma, beta } = params(shape[4], 23);
      expectNativeMatchesPlain("batchNormReluGrad", () =>
        tf.grads((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(batchNormReluTrain(xi, g as tf.Tensor1D, b as tf.Tensor1D, { epsilon: eps, relu }).y, w)),
        )([x, gamma, beta]),
      );
    },
  );

  // h is small with the ReLU so that no pre-activation crosses zero between f(v − h) and f(v + h).
  it.each([
    [false, 1e-2],
    [true, 1e-3],
  ])("relu %s: matches central differences (h %f) of the native forward", (relu, h) => {
    const shape = [2, 3, 5, 3, 3];
    const rng = new Rng(31);
    const inputs = [randomArray(rng, 270, 1.5, 0.2), randomArray(rng, 3, 0.3, 1), randomArray(rng, 3, 0.5)];
    const w = tf.tensor(randomArray(rng, 270), shape);
    useNative();
    const loss = (xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(batchNormReluTrain(xi, g as tf.Tensor1D, b as tf.Tensor1D, { epsilon: eps, relu }).y, w));
    const asTensors = (v: Float32Array[]) => [tf.tensor(v[0], shape), tf.tensor1d(v[1]), tf.tensor1d(v[2])] as const;
    const analytic = tf
      .grads(loss)([...asTensors(inputs)])
      .map((t) => t.dataSync());
    expect(addonCalls.get("batchNormReluGrad")).toBe(1);
    const f = (v: Float32Array[]) => tf.tidy(() => loss(...asTensors(v)).dataSync()[0]);
    for (const [which, index] of [
      [0, 0],
      [0, 137],
      [0, 269],
      [1, 0],
      [1, 2],
      [2, 1],
    ]) {
      const numeric = centralDifference(f, inputs, which, index, h);
      // Float32 sums make the difference quotient noisy at about 1e-6 / h: compare small gradients absolutely.
      expect(relativeError(analytic[which][index], numeric, 0.1)).toBeLessThan(1e-2);
    }
  });
});

describe("VoxBatchNormReluInfer", () => {
  it.each(shapes.flatMap((s) => [true, false].map((relu) => [s, relu] as const)))(
    "%j relu %s: y equals the plain op's",
    (shape, relu) => {
      const x = randomTensor(shape, 41 + shape[4]);
      const { gamma, beta } = params(shape[4], 43);
      const mean = randomTensor([shape[4]], 44) as tf.Tensor1D;
      const variance = randomTensor([shape[4]], 45).abs().add(0.5) as tf.Tensor1D;
      expectNativeMatchesPlain("batchNormReluInfer", () => [
        batchNormReluInfer(x, gamma, beta, mean, variance, { epsilon: eps, relu }),
      ]);
    },
  );
});
