import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { createUNet } from "../../../src/model/unet.js";
import { loadNative } from "../../../src/native/addon.js";
import { registerNativeKernels } from "../../../src/native/register.js";
import { Rng } from "../../../src/random.js";
import { type BatchShape, createTrainer } from "../../../src/train/trainer.js";

/**
 * The whole train step with the native kernels registered must give the loss, gradients and batch-norm
 * statistics of the plain tfjs step (which the model tests hold to finite differences). Odd channel counts
 * and a non-cubic patch so that no kernel gets away with a layout assumption.
 */
beforeAll(async () => {
  await tf.setBackend("cpu");
  tf.enableProdMode();
});

const shape: BatchShape = [2, 4, 8, 12, 2];

function step(useNative: boolean) {
  const rng = new Rng(42);
  const [n, z, y, x, c] = shape;
  const image = Float32Array.from({ length: n * z * y * x * c }, () => rng.normal() + 0.2);
  const labels = Int32Array.from({ length: n * z * y * x }, () => rng.int(3));
  const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [3, 5, 7] }, 17);
  const trainer = createTrainer(unet);
  if (useNative) {
    const addon = loadNative();
    expect(addon, "native addon (node native/build.mjs)").not.toBeNull();
    if (addon) registerNativeKernels(addon);
  }
  const result = trainer.computeGradients(image, labels, shape);
  const stats = unet.stats.map((s) => Array.from(s.variable.dataSync()));
  const evalLogits = Array.from(unet.apply(tf.tensor5d(image, shape), false).dataSync());
  unet.dispose();
  return { ...result, stats, evalLogits };
}

function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

describe("native kernels under the U-Net", () => {
  it("give the plain step's loss, gradients, running statistics and eval logits", () => {
    const plain = step(false);
    const native = step(true);
    expect(native.loss).toBeCloseTo(plain.loss, 5);
    const scale = maxAbs(plain.grads);
    expect(scale).toBeGreaterThan(1e-4);
    const diff = maxAbs(plain.grads.map((g, i) => g - native.grads[i]));
    expect(diff).toBeLessThan(scale * 1e-3);
    for (const [i, s] of plain.stats.entries()) {
      for (const [k, v] of s.entries()) expect(native.stats[i][k]).toBeCloseTo(v, 4);
    }
    const logitDiff = maxAbs(plain.evalLogits.map((v, i) => v - native.evalLogits[i]));
    expect(logitDiff).toBeLessThan(1e-3 * Math.max(1, maxAbs(plain.evalLogits)));
  });
});
