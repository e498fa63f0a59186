import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { createUNet } from "../../../src/model/unet.js";
import { loadNative } from "../../../src/native/addon.js";
import { StepOutputs, stepOutputs } from "../../../src/native/kernels/stepOutputs.js";
import { registerNativeKernels } from "../../../src/native/register.js";
import { Rng } from "../../../src/random.js";
import { type BatchShape, createTrainer } from "../../../src/train/trainer.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
  tf.enableProdMode();
  const addon = loadNative();
  if (!addon) throw new Error("native addon not built (node native/build.mjs)");
  registerNativeKernels(addon);
});

// Level-0 activations of 8 channels × 8·32·24 voxels are 192 KiB: above the pool's floor, so it serves them.
const shape: BatchShape = [1, 8, 32, 24, 2];
const channels = [8, 16, 32];

function randomBatch(seed: number) {
  const rng = new Rng(seed);
  const [n, z, y, x, c] = shape;
  const image = Float32Array.from({ length: n * z * y * x * c }, () => rng.normal() + 0.3);
  const labels = Int32Array.from({ length: n * z * y * x }, () => rng.int(3));
  return { image, labels };
}

/** A step that does not end clean drops every pooled array: the next step allocates all of its own. */
function dropPool(): void {
  stepOutputs.begin();
  stepOutputs.end([], false);
}

describe("kernel outputs reused across training steps", () => {
  it("give the gradients and loss of a step on fresh arrays, to the bit, and the pool stays one step's size", () => {
    const first = randomBatch(1);
    const second = randomBatch(2);

    dropPool();
    const unet = createUNet({ inChannels: 2, numClasses: 3, channels }, 5);
    const trainer = createTrainer(unet);
    trainer.computeGradients(first.image, first.labels, shape);
    const pooledAfterFirst = stepOutputs.pooledBytes;
    expect(pooledAfterFirst).toBeGreaterThan(4 << 20);
    // Every array this step gets back holds the first batch's activations and gradients, not zeros.
    const reused = trainer.computeGradients(second.image, second.labels, shape);
    const reusedGrads = reused.grads.slice();
    for (let i = 0; i < 2; i++) {
      trainer.computeGradients(second.image, second.labels, shape);
      expect(stepOutputs.pooledBytes).toBe(pooledAfterFirst);
    }
    unet.dispose();

    dropPool();
    const freshNet = createUNet({ inChannels: 2, numClasses: 3, channels }, 5);
    const fresh = createTrainer(freshNet).computeGradients(second.image, second.labels, shape);
    freshNet.dispose();

    expect(reused.loss).toBe(fresh.loss);
    expect(reusedGrads.some((g) => g !== 0)).toBe(true);
    expect(Buffer.from(reusedGrads.buffer).equals(Buffer.from(fresh.grads.buffer))).toBe(true);
  });

  it("reuses nothing after a step that left a tensor alive", () => {
    const { image, labels } = randomBatch(3);
    const unet = createUNet({ inChannels: 2, numClasses: 3, channels }, 6);
    const trainer = createTrainer(unet);
    trainer.computeGradients(image, labels, shape);
    expect(stepOutputs.pooledBytes).toBeGreaterThan(0);
    let kept: tf.Tensor | null = null;
    trainer.computeGradients(image, labels, shape, {
      onLoss: () => {
        kept = tf.keep(tf.ones([4]));
      },
    });
    expect(stepOutputs.pooledBytes).toBe(0);
    (kept as tf.Tensor | null)?.dispose();
    unet.dispose();
  });
});

describe("StepOutputs", () => {
  const length = StepOutputs.MIN_BYTES / 4 + 3;

  it("hands an array out again only in a later step, never within one or outside steps", () => {
    const pool = new StepOutputs();
    pool.begin();
    const a = pool.float32(length);
    const b = pool.float32(length);
    expect(b).not.toBe(a);
    pool.end([], true);
    expect(pool.float32(length)).not.toBe(a); // outside a step
    pool.begin();
    const again = [pool.float32(length), pool.float32(length), pool.float32(length)];
    expect(new Set(again).has(a) && new Set(again).has(b)).toBe(true);
    expect(again.filter((x) => x !== a && x !== b)).toHaveLength(1);
    pool.end([], true);
    expect(pool.pooledBytes).toBe(3 * length * 4);
  });

  it("keeps arrays a variable now holds, drops the ones a step did not ask for, and leaves small ones to V8", () => {
    const pool = new StepOutputs();
    pool.begin();
    const held = pool.float32(length);
    const free = pool.float32(length);
    const small = pool.float32(16);
    pool.end([held.buffer], true);
    pool.begin();
    expect(pool.float32(16)).not.toBe(small);
    const next = pool.float32(length);
    expect(next).toBe(free);
    expect(pool.float32(length)).not.toBe(held);
    pool.end([], true);
    pool.begin();
    pool.end([], true);
    expect(pool.pooledBytes).toBe(0);
  });

  it("drops everything after a step that did not end clean", () => {
    const pool = new StepOutputs();
    pool.begin();
    const a = pool.float32(length);
    pool.end([], false);
    expect(pool.pooledBytes).toBe(0);
    pool.begin();
    expect(pool.float32(length)).not.toBe(a);
    pool.end([], true);
  });
});
