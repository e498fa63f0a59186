import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  batchNormRelu,
  batchNormReluGradPlain,
  batchNormReluInferPlain,
  batchNormReluTrainPlain,
} from "../../../src/model/ops/batchNormRelu.js";
import { Rng } from "../../../src/random.js";
import { centralDifference, randomArray, relativeError } from "./gradcheck.js";

// Odd sizes on purpose: [N, D, H, W, C] = [2, 3, 5, 3, 4].
const shape: [number, number, number, number, number] = [2, 3, 5, 3, 4];
const channels = shape[4];
const size = shape.reduce((a, b) => a * b, 1);
const eps = 1e-5;

beforeAll(async () => {
  await tf.setBackend("cpu");
  tf.enableProdMode();
});

/** Float64 reference of training-mode batch norm + ReLU, written independently of the tfjs code. */
function reference(x: Float32Array, gamma: Float32Array, beta: Float32Array, relu: boolean) {
  const rows = x.length / channels;
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) mean[i % channels] += x[i] / rows;
  for (let i = 0; i < x.length; i++) variance[i % channels] += (x[i] - mean[i % channels]) ** 2 / rows;
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % channels;
    const v = (gamma[c] * (x[i] - mean[c])) / Math.sqrt(variance[c] + eps) + beta[c];
    y[i] = relu ? Math.max(v, 0) : v;
  }
  return { y, mean, variance };
}

describe("batchNormReluTrainPlain", () => {
  it("matches a float64 reference (y, mean, biased variance)", () => {
    const rng = new Rng(1);
    const x = randomArray(rng, size, 2, 0.5);
    const gamma = randomArray(rng, channels, 0.3, 1);
    const beta = randomArray(rng, channels, 0.5);
    const ref = reference(x, gamma, beta, true);
    const out = batchNormReluTrainPlain(tf.tensor(x, shape), tf.tensor1d(gamma), tf.tensor1d(beta), eps, true);
    const y = out.y.dataSync();
    for (let i = 0; i < size; i++) expect(y[i]).toBeCloseTo(ref.y[i], 4);
    const mean = out.mean.dataSync();
    const variance = out.variance.dataSync();
    for (let c = 0; c < channels; c++) {
      expect(mean[c]).toBeCloseTo(ref.mean[c], 5);
      expect(variance[c]).toBeCloseTo(ref.variance[c], 4);
    }
    expect(y.some((v) => v === 0)).toBe(true); // the ReLU did cut something
  });
});

describe("batchNormReluInferPlain", () => {
  it("normalises with the statistics given, not the batch's", () => {
    const rng = new Rng(2);
    const x = randomArray(rng, size);
    const gamma = randomArray(rng, channels, 0.3, 1);
    const beta = randomArray(rng, channels, 0.5);
    const mean = randomArray(rng, channels);
    const variance = randomArray(rng, channels, 0.2, 1.5);
    const y = batchNormReluInferPlain(
      tf.tensor(x, shape),
      tf.tensor1d(gamma),
      tf.tensor1d(beta),
      tf.tensor1d(mean),
      tf.tensor1d(variance),
      eps,
      false,
    ).dataSync();
    for (const i of [0, 7, 33, size - 1]) {
      const c = i % channels;
      expect(y[i]).toBeCloseTo((gamma[c] * (x[i] - mean[c])) / Math.sqrt(variance[c] + eps) + beta[c], 4);
    }
  });
});

describe("batchNormRelu op gradient", () => {
  for (const relu of [false, true]) {
    it(`matches central differences of the plain forward (relu ${relu})`, () => {
      const rng = new Rng(relu ? 3 : 4);
      const inputs = [
        randomArray(rng, size, 1.5, 0.3),
        randomArray(rng, channels, 0.3, 1),
        randomArray(rng, channels, 0.4),
      ];
      const weights = tf.tensor(randomArray(rng, size), shape);
      // A scalar that depends on every output with a different weight, so no gradient cancels out.
      const objective = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) =>
        tf.sum(
          tf.mul(batchNormRelu(x, gamma as tf.Tensor1D, beta as tf.Tensor1D, { training: true, relu }).y, weights),
        );
      const weightValues = weights.dataSync();
      // With the ReLU, a float32 step large enough to resolve the difference would cross the kink of some
      // output; there the difference quotient is taken of the float64 reference with a tiny step instead.
      const f = relu
        ? ([x, g, b]: Float32Array[]) => reference(x, g, b, true).y.reduce((s, v, i) => s + v * weightValues[i], 0)
        : ([x, g, b]: Float32Array[]) =>
            tf.tidy(() => objective(tf.tensor(x, shape), tf.tensor1d(g), tf.tensor1d(b)).dataSync()[0]);
      const h = relu ? 1e-4 : 1e-2;

      const grads = tf.grads((x, g, b) => objective(x, g, b) as tf.Scalar)([
        tf.tensor(inputs[0], shape),
        tf.tensor1d(inputs[1]),
        tf.tensor1d(inputs[2]),
      ]);
      const analytic = grads.map((g) => g.dataSync());
      const checks: [number, number][] = [
        [0, 0],
        [0, 17],
        [0, 51],
        [0, size - 2],
        [1, 1],
        [1, 3],
        [2, 0],
        [2, 2],
      ];
      for (const [which, index] of checks) {
        const numeric = centralDifference(f, inputs, which, index, h);
        expect(relativeError(analytic[which][index], numeric, 1e-2), `input ${which}[${index}]`).toBeLessThan(2e-2);
      }
    });
  }

  it("the explicit grad function agrees with tf.grads through the op (shared backward)", () => {
    const rng = new Rng(5);
    const x = tf.tensor(randomArray(rng, size), shape);
    const gamma = tf.tensor1d(randomArray(rng, channels, 0.2, 1));
    const beta = tf.tensor1d(randomArray(rng, channels));
    const dy = tf.tensor(randomArray(rng, size), shape);
    const fwd = batchNormReluTrainPlain(x, gamma, beta, eps, true);
    const g = batchNormReluGradPlain(dy, x, gamma, fwd.mean, fwd.variance, fwd.y, eps, true);
    const [dx, dgamma, dbeta] = tf.grads((a, b, c) =>
      tf.sum(tf.mul(batchNormRelu(a, b as tf.Tensor1D, c as tf.Tensor1D, { training: true }).y, dy)),
    )([x, gamma, beta]);
    expect(tf.max(tf.abs(tf.sub(dx, g.dx))).dataSync()[0]).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(tf.sub(dgamma, g.dgamma))).dataSync()[0]).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(tf.sub(dbeta, g.dbeta))).dataSync()[0]).toBeLessThan(1e-5);
    // dβ is the sum of the masked upstream gradient: an easy closed form to hold the plain code to.
    const masked = tf.sum(tf.reshape(tf.mul(dy, tf.step(fwd.y)), [-1, channels]), 0).dataSync();
    const dbetaValues = g.dbeta.dataSync();
    for (let c = 0; c < channels; c++) expect(dbetaValues[c]).toBeCloseTo(masked[c], 4);
  });

  it("returns batch statistics that leak no tensors", () => {
    const rng = new Rng(6);
    const x = tf.tensor(randomArray(rng, size), shape);
    const gamma = tf.tensor1d(randomArray(rng, channels, 0.2, 1));
    const beta = tf.tensor1d(randomArray(rng, channels));
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const out = batchNormRelu(x, gamma, beta, { training: true });
      expect(out.mean.shape).toEqual([channels]);
      tf.grads((a) => tf.sum(batchNormRelu(a, gamma, beta, { training: true }).y))([x]);
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});
