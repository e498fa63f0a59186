import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { Rng } from "../../../src/random.js";
import {
  addonCalls,
  expectClose,
  expectNativeMatchesPlain,
  onCpuBackend,
  type PoolCase,
  randomTensor,
  type Triple,
  useNative,
} from "./nativeHarness.js";

onCpuBackend();

// [batch, channels, window, strides, pad] on a 7×5×9 (D×H×W) input. Windows that overlap along depth
// (stride < window) take the native kernel's serial scatter path.
const cases: PoolCase[] = [
  [1, 1, [2, 2, 2], [2, 2, 2], "same"],
  [2, 3, [2, 2, 2], [2, 2, 2], "valid"],
  [2, 16, [2, 2, 2], [2, 2, 2], "same"],
  [1, 16, [3, 3, 3], [1, 1, 1], "same"],
  [2, 3, [3, 3, 3], [2, 2, 2], "valid"],
  [1, 3, [3, 3, 3], [2, 2, 2], 1],
  // Tiling windows (stride == window) write dx directly; the padded one starts its first window before 0.
  [2, 3, [2, 2, 2], [2, 2, 2], 1],
  [1, 16, [1, 2, 2], [1, 2, 2], "valid"],
];

function pooledLoss(x: tf.Tensor5D, f: Triple, s: Triple, pad: "same" | "valid" | number, seed: number) {
  const y = tf.maxPool3d(x, f, s, pad, typeof pad === "number" ? "floor" : undefined);
  const r = randomTensor(y.shape, seed);
  return (a: tf.Tensor) =>
    tf.sum(tf.mul(tf.maxPool3d(a as tf.Tensor5D, f, s, pad, typeof pad === "number" ? "floor" : undefined), r));
}

describe("MaxPool3DGrad native kernel", () => {
  it.each(cases)("batch %i, %i channels, window %j, strides %j, pad %s: tf.grad equals plain", (n, c, f, s, pad) => {
    const x = randomTensor([n, 7, 5, 9, c], 53 + c) as tf.Tensor5D;
    const loss = pooledLoss(x, f, s, pad, 59);
    expectNativeMatchesPlain("maxPool3dGrad", () => [tf.grad(loss)(x)]);
  });

  it("routes the gradient of tied windows (ReLU zeros) exactly where the plain kernel does", () => {
    const x = tf.relu(randomTensor([2, 7, 5, 9, 16], 61)) as tf.Tensor5D;
    const loss = pooledLoss(x, [2, 2, 2], [2, 2, 2], "same", 67);
    expectNativeMatchesPlain("maxPool3dGrad", () => [tf.grad(loss)(x)]);
  });

  it("gives the finite-difference gradient for a window of unequal height and width", () => {
    // Distinct values one apart: a step of 0.25 never changes a window's winner, so differences are exact.
    const rng = new Rng(71);
    const shape: [number, number, number, number, number] = [1, 3, 4, 7, 2];
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(rng.shuffle([...Array(size).keys()]));
    const x = tf.tensor(values, shape) as tf.Tensor5D;
    const f: Triple = [1, 2, 3];
    const s: Triple = [1, 2, 2];
    const loss = pooledLoss(x, f, s, "same", 73);
    useNative();
    const grad = tf.grad(loss)(x).dataSync();
    expect(addonCalls.get("maxPool3dGrad") ?? 0).toBeGreaterThan(0);
    const numeric = new Float32Array(size);
    const h = 0.25;
    for (let i = 0; i < size; i++) {
      const up = values.slice();
      const down = values.slice();
      up[i] += h;
      down[i] -= h;
      const lossUp = loss(tf.tensor(up, shape)).dataSync()[0];
      const lossDown = loss(tf.tensor(down, shape)).dataSync()[0];
      numeric[i] = (lossUp - lossDown) / (2 * h);
    }
    expectClose(grad, numeric, 1e-3);
  });
});
