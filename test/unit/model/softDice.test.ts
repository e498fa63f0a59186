import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { softDiceLoss, softDiceLossGradPlain, softDiceLossPlain } from "../../../src/model/ops/softDice.js";
import { Rng } from "../../../src/random.js";
import { centralDifference, randomArray, relativeError } from "./gradcheck.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
  tf.enableProdMode();
});

describe("softDiceLossPlain", () => {
  it("matches a hand-computed two-voxel case", () => {
    // Voxel 0: logits (0, 0) → p = (.5, .5), label 0. Voxel 1: logits (ln 3, 0) → p = (.75, .25), label 1.
    // I = (.5, .25), P = (1.25, .75), T = (1, 1); with smooth 0: D = (1/2.25, .5/1.75).
    const logits = tf.tensor([0, 0, Math.log(3), 0], [1, 1, 1, 2, 2]);
    const labels = tf.tensor([0, 1], [1, 1, 1, 2], "int32");
    const f = softDiceLossPlain(logits, labels, 0);
    expect(f.loss.dataSync()[0]).toBeCloseTo(1 - (1 / 2.25 + 0.5 / 1.75) / 2, 6);
    expect(Array.from(f.intersect.dataSync())).toEqual([0.5, 0.25]);
    expect(Array.from(f.predSum.dataSync())).toEqual([1.25, 0.75]);
    expect(Array.from(f.truthSum.dataSync())).toEqual([1, 1]);
    const probs = f.probs.dataSync();
    for (const [i, p] of [0.5, 0.5, 0.75, 0.25].entries()) expect(probs[i]).toBeCloseTo(p, 6);
  });

  it("smooth keeps an absent class (P = T = 0 impossible here, but T = 0) finite and counts it", () => {
    // Class 2 never appears in the labels: its Dice is smooth / (P_2 + smooth), close to 0.
    const logits = tf.tensor([2, 0, -1, 0, 3, -2], [1, 1, 1, 2, 3]);
    const labels = tf.tensor([0, 1], [1, 1, 1, 2], "int32");
    const f = softDiceLossPlain(logits, labels, 1e-5);
    const p = f.probs.dataSync();
    const d0 = (2 * p[0] + 1e-5) / (p[0] + p[3] + 1 + 1e-5);
    const d1 = (2 * p[4] + 1e-5) / (p[1] + p[4] + 1 + 1e-5);
    const d2 = 1e-5 / (p[2] + p[5] + 1e-5);
    expect(f.loss.dataSync()[0]).toBeCloseTo(1 - (d0 + d1 + d2) / 3, 5);
  });
});

describe("softDiceLoss op gradient", () => {
  // Odd sizes: [N, D, H, W, K] = [2, 3, 1, 5, 3].
  const shape = [2, 3, 1, 5, 3];
  const voxels = 2 * 3 * 1 * 5;

  it("matches central differences through the softmax", () => {
    const rng = new Rng(11);
    const logits = randomArray(rng, voxels * 3, 1.5, 0.1);
    const labelValues = Int32Array.from({ length: voxels }, () => rng.int(3));
    const labels = tf.tensor(labelValues, shape.slice(0, 4), "int32");
    const f = ([z]: Float32Array[]) => tf.tidy(() => softDiceLoss(tf.tensor(z, shape), labels).dataSync()[0]);
    const analytic = tf
      .grad((z) => softDiceLoss(z, labels))(tf.tensor(logits, shape))
      .dataSync();
    expect(analytic.some((v) => Math.abs(v) > 1e-4)).toBe(true);
    for (const index of [0, 4, 11, 29, 46, 89]) {
      const numeric = centralDifference(f, [logits], 0, index, 1e-2);
      expect(relativeError(analytic[index], numeric, 1e-3), `logit ${index}`).toBeLessThan(2e-2);
    }
  });

  it("scales with the upstream gradient (dloss) and leaks no tensors", () => {
    const rng = new Rng(12);
    const logits = tf.tensor(randomArray(rng, voxels * 3), shape);
    const labels = tf.tensor(
      Int32Array.from({ length: voxels }, () => rng.int(3)),
      shape.slice(0, 4),
      "int32",
    );
    const fwd = softDiceLossPlain(logits, labels, 1e-5);
    const unit = softDiceLossGradPlain(tf.scalar(1), fwd.probs, labels, fwd.intersect, fwd.predSum, fwd.truthSum, 1e-5);
    const scaled = softDiceLossGradPlain(
      tf.scalar(-3),
      fwd.probs,
      labels,
      fwd.intersect,
      fwd.predSum,
      fwd.truthSum,
      1e-5,
    );
    const a = unit.dataSync();
    const b = scaled.dataSync();
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(-3 * a[i], 5);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      tf.grad((z) => softDiceLoss(z, labels))(logits);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it("rejects float labels", () => {
    expect(() => softDiceLoss(tf.ones([1, 1, 1, 2, 2]), tf.ones([1, 1, 1, 2]))).toThrow(/int32/);
  });
});
