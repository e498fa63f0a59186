import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { GradientHooks } from "../../../src/model/gradientHooks.js";
import { softDiceLoss } from "../../../src/model/ops/softDice.js";
import { flatSize, gradientBuckets } from "../../../src/model/paramLayout.js";
import { BENCH_CHANNELS, createUNet, type NamedVariable } from "../../../src/model/unet.js";
import { Rng } from "../../../src/random.js";
import { createTrainer } from "../../../src/train/trainer.js";
import { randomArray } from "./gradcheck.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
  tf.enableProdMode();
});

function randomBatch(seed: number, shape: [number, number, number, number, number]) {
  const rng = new Rng(seed);
  const voxels = shape[0] * shape[1] * shape[2] * shape[3];
  return {
    x: randomArray(rng, voxels * shape[4]),
    labels: Int32Array.from({ length: voxels }, () => rng.int(3)),
  };
}

/** The biases in front of a batch norm: gradient-free by construction (see unet.ts). */
const beforeNorm = (name: string) => /^(enc|dec)\.\d+\.[03]\.bias$/.test(name);

/**
 * The order backward reaches the parameters: the head, then each decoder level from the last (its block,
 * then its up-convolution), then the encoder from the bottom; within a layer the last op first.
 */
function backwardOrder(levels: number): string[] {
  const convBn = (prefix: string) =>
    [`${prefix}.4.bias`, `${prefix}.4.weight`, `${prefix}.3.weight`].concat([
      `${prefix}.1.bias`,
      `${prefix}.1.weight`,
      `${prefix}.0.weight`,
    ]);
  const order = ["head.bias", "head.weight"];
  for (let j = levels - 2; j >= 0; j--) order.push(...convBn(`dec.${j}`), `up.${j}.bias`, `up.${j}.weight`);
  for (let i = levels - 1; i >= 0; i--) order.push(...convBn(`enc.${i}`));
  return order;
}

describe("gradient hooks", () => {
  it("change no gradient: bitwise those of tf.variableGrads (which the gradcheck pins to central differences)", () => {
    const shape: [number, number, number, number, number] = [2, 4, 8, 8, 2];
    const { x, labels } = randomBatch(31, shape);
    const viaHooks = (() => {
      const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [4, 8, 16] }, 9);
      const result = createTrainer(unet).computeGradients(x, labels, shape);
      unet.dispose();
      return result;
    })();
    const plain = (() => {
      const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [4, 8, 16] }, 9);
      const flat = new Float32Array(flatSize(unet.params));
      const loss = tf.tidy(() => {
        const input = tf.tensor5d(x, shape);
        const target = tf.tensor4d(labels, [2, 4, 8, 8], "int32");
        const vars = unet.params.map((p) => p.variable);
        const { value, grads } = tf.variableGrads(() => softDiceLoss(unet.apply(input, true), target), vars);
        let offset = 0;
        for (const { variable } of unet.params) {
          if (grads[variable.name]) flat.set(grads[variable.name].dataSync(), offset);
          offset += variable.size;
        }
        return value.dataSync()[0];
      });
      unet.dispose();
      return { loss, grads: flat };
    })();
    expect(viaHooks.loss).toBe(plain.loss);
    expect(Buffer.from(viaHooks.grads.buffer).equals(Buffer.from(plain.grads.buffer))).toBe(true);
    expect(plain.grads.some((g) => g !== 0)).toBe(true);
  });

  it("report every parameter once, the gradient-free ones first, then last layers first", () => {
    for (const channels of [
      [4, 8],
      [2, 4, 8, 16],
    ]) {
      const unet = createUNet({ inChannels: 2, numClasses: 3, channels }, 3);
      const shape: [number, number, number, number, number] = [1, 8, 8, 8, 2];
      const { x, labels } = randomBatch(5, shape);
      const events: string[] = [];
      const grads = new Float32Array(flatSize(unet.params)).fill(Number.NaN);
      let reportedAtLoss = -1;
      createTrainer(unet).computeGradients(x, labels, shape, {
        into: grads,
        onLoss: () => {
          reportedAtLoss = events.length;
        },
        onGradient: (i) => events.push(unet.params[i].name),
      });
      expect(reportedAtLoss).toBe(0); // the loss before any gradient
      expect([...events].sort()).toEqual(unet.params.map((p) => p.name).sort());
      const free = unet.params.filter((p) => beforeNorm(p.name)).length;
      expect(events.slice(0, free).every(beforeNorm)).toBe(true);
      expect(events.slice(free)).toEqual(backwardOrder(channels.length));
      expect(grads.every(Number.isFinite)).toBe(true); // every slot written, the gradient-free ones with zeros
      unet.dispose();
    }
  });

  it("fill the bench U-Net's buckets of 25, 4 and 1 MiB in plan order: none waits for a later one", () => {
    const unet = createUNet({ inChannels: 2, numClasses: 3, channels: BENCH_CHANNELS }, 1);
    const shape: [number, number, number, number, number] = [1, 16, 16, 16, 2];
    const { x, labels } = randomBatch(2, shape);
    const arrival = new Int32Array(unet.params.length);
    let count = 0;
    createTrainer(unet).computeGradients(x, labels, shape, {
      onGradient: (i) => {
        arrival[i] = count++;
      },
    });
    const sizes = unet.params.map((p) => p.variable.size);
    for (const mb of [25, 4, 1]) {
      const complete = gradientBuckets(sizes, mb * (1 << 20)).map((b) => Math.max(...b.params.map((i) => arrival[i])));
      expect(complete, `${mb} MiB`).toEqual([...complete].sort((p, q) => p - q));
    }
    // The last bucket is complete only with the first layer's gradient, the last backward makes.
    expect(arrival[0]).toBe(unet.params.length - 1);
    unet.dispose();
  });

  it("sum the uses of a parameter used twice, finish a use that never reaches the loss, zero an unused one", () => {
    const make = (name: string, values: number[]): NamedVariable => ({
      name,
      variable: tf.variable(tf.tensor1d(values), true, `hooks-test/${name}`),
    });
    const params = [make("a", [1, 2]), make("b", [3]), make("c", [4, 5, 6])];
    const [a, b, c] = params.map((p) => p.variable);
    const hooks = new GradientHooks(params);
    const grads = new Float32Array(6).fill(Number.NaN);
    const ready: number[] = [];
    let pendingAtBackwardEnd: number[] = [];
    hooks.begin(grads, 2, (i) => ready.push(i));
    tf.tidy(() => {
      tf.variableGrads(() => {
        // loss = Σ a² via two uses of a (a·a); b feeds only a branch that is thrown away; c is never used.
        const loss = tf.sum(tf.mul(hooks.use(a), hooks.use(a))) as tf.Scalar;
        tf.mul(hooks.use(b), 3);
        hooks.forwardDone();
        return loss;
      }, [a, b, c]);
      pendingAtBackwardEnd = [...ready];
      hooks.finish();
    });
    expect(pendingAtBackwardEnd).toEqual([0]); // a, once both of its uses came back
    expect(ready).toEqual([0, 2, 1]); // then b and c at the end, highest index first
    expect(Array.from(grads)).toEqual([4, 8, 0, 0, 0, 0]); // d(Σa²)/da = 2a, × factor 2
    for (const v of [a, b, c]) v.dispose();
  });

  it("leave no tensor behind across steps", () => {
    const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [2, 4, 8] }, 11);
    const trainer = createTrainer(unet, { amp: true });
    const shape: [number, number, number, number, number] = [1, 4, 8, 8, 2];
    const { x, labels } = randomBatch(12, shape);
    const step = () => trainer.computeGradients(x, labels, shape, { gradScale: 4, onGradient: () => {} });
    step();
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    unet.dispose();
  });
});
