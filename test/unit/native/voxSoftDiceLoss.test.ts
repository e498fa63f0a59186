import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { hasKernel } from "../../../src/model/ops/kernel.js";
import { softDiceLoss, softDiceLossPlain } from "../../../src/model/ops/softDice.js";
import { loadNative } from "../../../src/native/addon.js";
import { VoxKernel } from "../../../src/native/kernelNames.js";
import { Rng } from "../../../src/random.js";
import { centralDifference, randomArray, relativeError } from "../model/gradcheck.js";
import { addonCalls, expectNativeMatchesPlain, onCpuBackend, randomTensor, useNative } from "./nativeHarness.js";

// VoxSoftDiceLoss / VoxSoftDiceLossGrad against the model's plain op, and the native gradient against finite
// differences. Labels include one class index out of range, which tf.oneHot turns into an all-zero row.

onCpuBackend();

const smooth = 1e-5;

function randomLabels(shape: number[], classes: number, seed: number, outOfRange = true): tf.Tensor {
  const rng = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const labels = Int32Array.from({ length: size }, () => rng.int(classes));
  if (outOfRange) labels[size >> 1] = classes;
  return tf.tensor(labels, shape, "int32");
}

// [N, D, H, W] and K: the U-Net's 3 classes, a 2-class case, and one large enough for the OpenMP path.
const cases: [number[], number][] = [
  [[2, 5, 7, 3], 3],
  [[1, 5, 7, 3], 2],
  [[2, 3, 5, 7], 16],
  [[2, 9, 11, 13], 3],
];

describe("VoxSoftDiceLoss", () => {
  it.each(cases)("%j, %i classes: loss, probs and the three sums equal the plain op's", (shape, classes) => {
    const logits = randomTensor([...shape, classes], 50 + classes).mul(2);
    const labels = randomLabels(shape, classes, 51);
    expectNativeMatchesPlain("softDiceLoss", () => {
      if (!hasKernel(VoxKernel.SoftDiceLoss)) {
        const plain = softDiceLossPlain(logits, labels, smooth);
        return [plain.loss, plain.probs, plain.intersect, plain.predSum, plain.truthSum];
      }
      return tf.engine().runKernel(VoxKernel.SoftDiceLoss, { logits, labels }, { smooth }) as tf.Tensor[];
    });
  });

  it.each(cases)("%j, %i classes: the loss equals the plain op's", (shape, classes) => {
    const logits = randomTensor([...shape, classes], 60 + classes).mul(2);
    const labels = randomLabels(shape, classes, 61);
    expectNativeMatchesPlain("softDiceLoss", () => [softDiceLoss(logits, labels, smooth)]);
  });
});

describe("VoxSoftDiceLoss reproducibility", () => {
  it("gives bitwise the same loss and sums with 1 and 2 threads", () => {
    const addon = loadNative();
    if (!addon) throw new Error("addon missing");
    const logits = randomTensor([2, 9, 11, 13, 3], 90).mul(3);
    const labels = randomLabels([2, 9, 11, 13], 3, 91);
    useNative();
    const run = (threads: number) => {
      const before = addon.setNumThreads(threads);
      const out = tf.engine().runKernel(VoxKernel.SoftDiceLoss, { logits, labels }, { smooth }) as tf.Tensor[];
      addon.setNumThreads(before);
      return [out[0], ...out.slice(2)].flatMap((t) => [...t.dataSync()]);
    };
    expect(run(1)).toEqual(run(2));
  });
});

describe("VoxSoftDiceLossGrad", () => {
  it.each(cases)("%j, %i classes: dlogits equal the plain op's", (shape, classes) => {
    const logits = randomTensor([...shape, classes], 70 + classes).mul(2);
    const labels = randomLabels(shape, classes, 71);
    // A loss scale other than 1 checks that dloss multiplies the gradient.
    expectNativeMatchesPlain("softDiceLossGrad", () => [
      tf.grad((z: tf.Tensor) => tf.mul(softDiceLoss(z, labels, smooth), 3.5))(logits),
    ]);
  });

  it("matches central differences of the native forward", () => {
    const shape = [2, 3, 5, 3];
    const classes = 3;
    const rng = new Rng(81);
    const logits = [randomArray(rng, 90 * classes, 1.5)];
    const labels = randomLabels(shape, classes, 82, false);
    useNative();
    const loss = (z: tf.Tensor) => softDiceLoss(z, labels, smooth);
    const analytic = tf
      .grad(loss)(tf.tensor(logits[0], [...shape, classes]))
      .dataSync();
    expect(addonCalls.get("softDiceLossGrad")).toBe(1);
    const f = (v: Float32Array[]) => tf.tidy(() => loss(tf.tensor(v[0], [...shape, classes])).dataSync()[0]);
    for (const index of [0, 1, 2, 100, 179, 269]) {
      const numeric = centralDifference(f, logits, 0, index, 1e-2);
      // Gradients here are about 1e-3 (one voxel of 90): compare against a floor of that size.
      expect(relativeError(analytic[index], numeric, 1e-3)).toBeLessThan(2e-2);
    }
  });
});
