import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { readFlat, writeFlat } from "../../../src/model/paramLayout.js";
import { createUNet } from "../../../src/model/unet.js";
import { Rng } from "../../../src/random.js";
import { Adam } from "../../../src/train/adam.js";
import { type BatchShape, createTrainer } from "../../../src/train/trainer.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
  tf.enableProdMode();
});

/** A learnable batch: the label is a function of the image (class by intensity band), not noise. */
function batch(seed: number, shape: BatchShape) {
  const rng = new Rng(seed);
  const [n, z, y, x, c] = shape;
  const voxels = n * z * y * x;
  const image = new Float32Array(voxels * c);
  const labels = new Int32Array(voxels);
  for (let v = 0; v < voxels; v++) {
    const value = rng.normal();
    labels[v] = value < -0.5 ? 0 : value < 0.5 ? 1 : 2;
    for (let k = 0; k < c; k++) image[v * c + k] = value * (k + 1) + 0.1 * rng.normal();
  }
  return { image, labels };
}

describe("createTrainer", () => {
  const shape: BatchShape = [2, 4, 8, 8, 2];

  it("overfits one batch: the Dice loss drops clearly within 30 steps", () => {
    const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [4, 8] }, 3);
    const trainer = createTrainer(unet, { lr: 1e-2 });
    const { image, labels } = batch(4, shape);
    const losses: number[] = [];
    for (let step = 0; step < 30; step++) {
      const { loss, grads } = trainer.computeGradients(image, labels, shape);
      expect(grads.every(Number.isFinite)).toBe(true);
      losses.push(loss);
      expect(trainer.applyGradients(grads).applied).toBe(true);
    }
    expect(losses[0]).toBeGreaterThan(0.3);
    expect(losses[29]).toBeLessThan(losses[0] * 0.5);
    unet.dispose();
  });

  it("updates the weights in place as Adam on plain arrays would, and a restore between steps is where it goes on", () => {
    const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [4, 8] }, 7);
    const trainer = createTrainer(unet, { lr: 1e-2 });
    const reference = new Adam(trainer.paramCount, { lr: 1e-2 });
    const expected = readFlat(unet.params);
    const { image, labels } = batch(8, shape);
    const storage: ArrayBufferLike[] = [];
    for (let step = 0; step < 4; step++) {
      if (step === 2) {
        // a checkpoint restore (or weight broadcast) writes the variables; the trainer must not undo it
        const restored = expected.map((v, i) => v * 0.5 + ((i % 7) - 3) * 1e-3);
        writeFlat(unet.params, restored);
        expected.set(restored);
      }
      const { grads } = trainer.computeGradients(image, labels, shape);
      reference.update(expected, grads);
      expect(trainer.applyGradients(grads).applied).toBe(true);
      expect(Array.from(readFlat(unet.params))).toEqual(Array.from(expected));
      storage.push(unet.params[0].variable.dataSync().buffer);
    }
    // no fresh arrays for the weights a step: the same storage from step to step, but after the restore
    expect(storage[1]).toBe(storage[0]);
    expect(storage[3]).toBe(storage[2]);
    unet.dispose();
  });

  it("leaks no tensors across steps, with and without --amp", () => {
    for (const amp of [false, true]) {
      const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [2, 4] }, 5);
      const trainer = createTrainer(unet, { amp });
      const { image, labels } = batch(6, shape);
      const step = () => trainer.applyGradients(trainer.computeGradients(image, labels, shape).grads);
      step();
      const tensors = tf.memory().numTensors;
      step();
      step();
      expect(tf.memory().numTensors).toBe(tensors);
      unet.dispose();
    }
  });

  it("returns unscaled gradients under --amp, equal to the fp32 ones", () => {
    const grads = [false, true].map((amp) => {
      const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [2, 4] }, 7);
      const trainer = createTrainer(unet, { amp });
      expect(trainer.lossScale).toBe(amp ? 32768 : 1);
      const { image, labels } = batch(8, shape);
      const result = trainer.computeGradients(image, labels, shape);
      unet.dispose();
      return result;
    });
    expect(grads[1].loss).toBeCloseTo(grads[0].loss, 6);
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < grads[0].grads.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(grads[0].grads[i] - grads[1].grads[i]));
      maxAbs = Math.max(maxAbs, Math.abs(grads[0].grads[i]));
    }
    expect(maxAbs).toBeGreaterThan(1e-4);
    expect(maxDiff).toBeLessThan(maxAbs * 1e-4);
  });

  it("skips a non-finite step without touching the weights, backs off the scale, and saves its state", () => {
    const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [2, 4] }, 9);
    const trainer = createTrainer(unet, { amp: true });
    const { image, labels } = batch(10, shape);
    const { grads } = trainer.computeGradients(image, labels, shape);
    const before = readFlat(unet.params);
    const poisoned = grads.slice();
    poisoned[17] = Number.POSITIVE_INFINITY;
    expect(trainer.applyGradients(poisoned)).toEqual({ applied: false, lossScale: 16384 });
    expect(Array.from(readFlat(unet.params))).toEqual(Array.from(before));
    expect(trainer.applyGradients(grads).applied).toBe(true);
    expect(Array.from(readFlat(unet.params))).not.toEqual(Array.from(before));
    const state = trainer.getState();
    expect(state.skippedSteps).toBe(1);
    expect(state.adam.step).toBe(1);
    expect(state.lossScale?.scale).toBe(16384);
    const other = createTrainer(unet, { amp: true });
    other.setState(state);
    expect(other.lossScale).toBe(16384);
    expect(other.skippedSteps).toBe(1);
    unet.dispose();
  });

  it("refuses a batch shape that does not match the arrays", () => {
    const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [2, 4] }, 11);
    const trainer = createTrainer(unet);
    expect(() => trainer.computeGradients(new Float32Array(9), new Int32Array(5), [1, 1, 1, 5, 2])).toThrow(
      /9 input values/,
    );
    expect(() => trainer.computeGradients(new Float32Array(10), new Int32Array(4), [1, 1, 1, 5, 2])).toThrow(
      /4 labels/,
    );
    unet.dispose();
  });
});
