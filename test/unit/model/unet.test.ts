import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { softDiceLoss } from "../../../src/model/ops/softDice.js";
import { BENCH_CHANNELS, countParams, createUNet, type UNet } from "../../../src/model/unet.js";
import { Rng } from "../../../src/random.js";
import { centralDifference, randomArray, relativeError } from "./gradcheck.js";

const created: UNet[] = [];
function make(channels: number[], seed: number, inChannels = 2, numClasses = 3): UNet {
  const unet = createUNet({ inChannels, numClasses, channels }, seed);
  created.push(unet);
  return unet;
}

beforeAll(async () => {
  await tf.setBackend("cpu");
  tf.enableProdMode();
});
afterAll(() => {
  for (const unet of created) unet.dispose();
});

describe("createUNet", () => {
  it("has the reference's 5,648,323 parameters for 2 → 3 classes, 16..256", () => {
    const unet = make(BENCH_CHANNELS, 0);
    expect(countParams(unet)).toBe(5_648_323);
    // Names and order follow the PyTorch state_dict: encoder, all up-convs, decoder, head.
    expect(unet.params.slice(0, 4).map((p) => p.name)).toEqual([
      "enc.0.0.weight",
      "enc.0.0.bias",
      "enc.0.1.weight",
      "enc.0.1.bias",
    ]);
    expect(unet.params.findIndex((p) => p.name === "up.0.weight")).toBeLessThan(
      unet.params.findIndex((p) => p.name === "dec.0.0.weight"),
    );
    expect(unet.params.at(-1)?.name).toBe("head.bias");
    expect(unet.stats.length).toBe(2 * 2 * (5 + 4));
    unet.dispose();
    created.pop();
  });

  it("is deterministic in its seed and He-scaled", () => {
    const a = make([4, 8], 7);
    const b = make([4, 8], 7);
    const c = make([4, 8], 8);
    const w = (u: UNet) => u.params[0].variable.dataSync();
    expect(Array.from(w(a))).toEqual(Array.from(w(b)));
    expect(Array.from(w(a))).not.toEqual(Array.from(w(c)));
    const big = make([32], 1).params[0].variable.dataSync() as Float32Array; // fan-in 27·2 = 54
    const std = Math.sqrt(big.reduce((s, v) => s + v * v, 0) / big.length);
    expect(std).toBeGreaterThan(Math.sqrt(2 / 54) * 0.9);
    expect(std).toBeLessThan(Math.sqrt(2 / 54) * 1.1);
  });

  it("maps [N, D, H, W, C] to logits [N, D, H, W, classes] and refuses sizes that do not pool", () => {
    const unet = make([2, 4, 8], 3, 2, 4);
    const x = tf.tensor(randomArray(new Rng(1), 2 * 4 * 8 * 12 * 2), [2, 4, 8, 12, 2]) as tf.Tensor5D;
    const y = unet.apply(x, true);
    expect(y.shape).toEqual([2, 4, 8, 12, 4]);
    expect(() => unet.apply(tf.ones([1, 4, 6, 8, 2]) as tf.Tensor5D, false)).toThrow(/divisible by 4/);
  });

  it("updates running statistics in training mode only, and eval mode uses them", () => {
    const unet = make([2, 4], 5);
    const x = tf.tensor(randomArray(new Rng(2), 4 * 4 * 4 * 2, 2, 1), [1, 4, 4, 4, 2]) as tf.Tensor5D;
    const statsNow = () => unet.stats.map((s) => Array.from(s.variable.dataSync()));
    const initial = statsNow();
    unet.apply(x, false);
    expect(statsNow()).toEqual(initial);
    const trainOut = unet.apply(x, true).dataSync();
    const afterOne = statsNow();
    expect(afterOne).not.toEqual(initial);
    // First running mean = 0.9·0 + 0.1·batch mean of the first conv's output (+ its zero bias).
    const firstConv = tf.conv3d(x, unet.params[0].variable as tf.Tensor5D, 1, "same");
    const batchMean = tf.mean(tf.reshape(firstConv, [-1, 2]), 0).dataSync();
    expect(afterOne[0][0]).toBeCloseTo(0.1 * batchMean[0], 5);
    expect(afterOne[0][1]).toBeCloseTo(0.1 * batchMean[1], 5);
    // After many identical batches the running stats converge to the batch's; with the running variance
    // taken back from unbiased (× n/(n−1), as PyTorch keeps it) to biased, eval equals training exactly.
    for (let i = 0; i < 200; i++) tf.tidy(() => unet.apply(x, true));
    const voxels = [64, 64, 8, 8, 64, 64]; // enc.0 ×2, enc.1 ×2 (pooled), dec.0 ×2
    for (const [layer, n] of voxels.entries()) {
      const runningVar = unet.stats[2 * layer + 1].variable;
      runningVar.assign(tf.mul(runningVar, (n - 1) / n));
    }
    const evalOut = unet.apply(x, false).dataSync() as Float32Array;
    const maxDiff = evalOut.reduce((m, v, i) => Math.max(m, Math.abs(v - trainOut[i])), 0);
    expect(maxDiff).toBeLessThan(1e-3);
  });

  it("folds the conv bias into batch-norm statistics: eval output shifts with the bias as PyTorch's would", () => {
    const unet = make([2, 4], 9);
    const x = tf.tensor(randomArray(new Rng(3), 4 * 4 * 4 * 2), [1, 4, 4, 4, 2]) as tf.Tensor5D;
    for (let i = 0; i < 3; i++) tf.tidy(() => unet.apply(x, true));
    const before = unet.apply(x, false).dataSync();
    // Adding δ to a conv bias and δ to the matching running mean (what training would do) changes nothing.
    const bias = unet.params[1].variable;
    const runningMean = unet.stats[0].variable;
    bias.assign(tf.add(bias, tf.tensor1d([0.5, -0.25])));
    runningMean.assign(tf.add(runningMean, tf.tensor1d([0.5, -0.25])));
    const after = unet.apply(x, false).dataSync();
    for (let i = 0; i < before.length; i++) expect(after[i]).toBeCloseTo(before[i], 4);
    // Moving the bias alone does change the eval output.
    bias.assign(tf.add(bias, tf.tensor1d([0.5, -0.25])));
    const moved = unet.apply(x, false).dataSync();
    expect(moved.some((v, i) => Math.abs(v - before[i]) > 1e-3)).toBe(true);
  });
});

describe("U-Net gradients", () => {
  it("match central differences on random parameters of a tiny net (training mode, Dice loss)", () => {
    const unet = make([2, 4], 21);
    const rng = new Rng(22);
    // Few voxels keep the number of ReLU / max-pool kinks near any parameter value small.
    const shape: [number, number, number, number, number] = [1, 4, 4, 4, 2];
    const x = tf.tensor(randomArray(rng, 4 * 4 * 4 * 2), shape) as tf.Tensor5D;
    const labels = tf.tensor(
      Int32Array.from({ length: 4 * 4 * 4 }, () => rng.int(3)),
      shape.slice(0, 4),
      "int32",
    );
    const stats = unet.stats.map((s) => s.variable.clone());
    const restoreStats = () => {
      for (const [i, s] of unet.stats.entries()) s.variable.assign(stats[i]);
    };
    const lossOf = () => softDiceLoss(unet.apply(x, true), labels);
    const vars = unet.params.map((p) => p.variable);
    const { grads } = tf.variableGrads(lossOf as () => tf.Scalar, vars);
    restoreStats();

    // Every parameter tensor except the biases in front of a batch norm gets a non-zero gradient.
    const checked = unet.params.filter((p) => !/^(enc|dec)\.\d+\.[03]\.bias$/.test(p.name));
    let compared = 0;
    for (const { name, variable } of checked) {
      const g = grads[variable.name].dataSync();
      expect(
        g.some((v) => v !== 0),
        name,
      ).toBe(true);
      const values = [Float32Array.from(variable.dataSync())];
      const f = ([v]: Float32Array[]) =>
        tf.tidy(() => {
          variable.assign(tf.tensor(v, variable.shape));
          restoreStats();
          return lossOf().dataSync()[0];
        });
      // A step can carry some activation across a ReLU or max-pool kink, where the difference quotient
      // means nothing: such an element shows itself by disagreeing at two step sizes and is passed over.
      for (let attempt = 0; attempt < 4; attempt++) {
        const index = rng.int(values[0].length);
        const numeric = centralDifference(f, values, 0, index, 3e-3);
        const finer = centralDifference(f, values, 0, index, 1.5e-3);
        if (relativeError(numeric, finer, 1e-3) > 1e-2) continue;
        expect(relativeError(g[index], numeric, 1e-3), `${name}[${index}]: ${g[index]} vs ${numeric}`).toBeLessThan(
          2e-2,
        );
        compared++;
        break;
      }
      variable.assign(tf.tensor(values[0], variable.shape));
      restoreStats();
    }
    expect(compared).toBeGreaterThanOrEqual(checked.length - 2);
  });

  it("gives the biases in front of a batch norm no gradient (they cancel exactly)", () => {
    const unet = make([2, 4], 23);
    const x = tf.tensor(randomArray(new Rng(4), 4 * 4 * 4 * 2), [1, 4, 4, 4, 2]) as tf.Tensor5D;
    const labels = tf.tensor(
      Int32Array.from({ length: 64 }, (_, i) => i % 3),
      [1, 4, 4, 4],
      "int32",
    );
    const bias = unet.params.find((p) => p.name === "enc.0.0.bias")?.variable as tf.Variable;
    const before = tf.tidy(() => softDiceLoss(unet.apply(x, true), labels).dataSync()[0]);
    bias.assign(tf.tensor1d([3, -2]));
    const after = tf.tidy(() => softDiceLoss(unet.apply(x, true), labels).dataSync()[0]);
    expect(after).toBeCloseTo(before, 6);
  });
});
