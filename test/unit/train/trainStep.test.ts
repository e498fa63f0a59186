import * as tf from "@tensorflow/tfjs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RingAllReduce } from "../../../src/comm/ring.js";
import { gradientBuckets, readFlat } from "../../../src/model/paramLayout.js";
import { createUNet } from "../../../src/model/unet.js";
import { installNativeRingArithmetic } from "../../../src/native/ringArithmetic.js";
import { Rng } from "../../../src/random.js";
import { type ApplyResult, type BatchShape, createTrainer, type Trainer } from "../../../src/train/trainer.js";
import { type StepCollectives, trainStep } from "../../../src/train/trainStep.js";
import { closeAll, openRing } from "../comm/ringHelpers.js";

/**
 * A trainer whose backward pass writes known gradients (× the scale it is asked for), reporting them as
 * parameters of `sizes` from the last to the first, and whose update records what it was given: what
 * trainStep exchanges is then visible exactly.
 */
function recordingTrainer(loss: number, gradients: Float32Array, lossScale: number, sizes = [gradients.length]) {
  const applied: Float32Array[] = [];
  const trainer: Trainer = {
    paramCount: gradients.length,
    paramSizes: sizes,
    lossScale,
    skippedSteps: 0,
    computeGradients: (_x, _labels, _shape, { into, gradScale = 1, onLoss, onGradient } = {}) => {
      const grads = into ?? new Float32Array(gradients.length);
      onLoss?.(loss);
      let hi = grads.length;
      for (let p = sizes.length - 1; p >= 0; p--) {
        for (let i = hi - sizes[p]; i < hi; i++) grads[i] = gradients[i] * gradScale;
        hi -= sizes[p];
        onGradient?.(p);
      }
      return { loss, grads };
    },
    applyGradients: (grads): ApplyResult => {
      applied.push(grads.slice());
      return { applied: true, lossScale };
    },
    getState: () => {
      throw new Error("not used");
    },
    setState: () => {},
  };
  return { trainer, applied };
}

const batch = { x: new Float32Array(2), labels: new Int32Array(1), shape: [1, 1, 1, 1, 2] as [1, 1, 1, 1, 2] };

beforeAll(async () => {
  await tf.setBackend("cpu");
  tf.enableProdMode();
});

let rings: RingAllReduce[] = [];
afterEach(() => closeAll(rings));

describe("trainStep", () => {
  // bucketMb 0.01: 2621 floats a bucket, so each of the three parameters goes in a bucket of its own
  it.each([0, 0.01])(
    "reduces a loss near 1 in fp32 beside fp16 gradients at loss scale 2^17, 4 ranks on sockets, --bucket-mb %s",
    async (bucketMb) => {
      const world = 4;
      const length = 30_011; // several chunks per segment
      rings = await openRing(world, { sharedMemory: false, chunkBytes: 8192 });
      const rng = new Rng(3);
      const losses = [0.9931, 0.9874, 1.0, 0.9712];
      const perRank = losses.map(() => Float32Array.from({ length }, () => rng.normal() * 1e-3));
      const sizes = [10_011, 10_000, 10_000];
      const trainers = losses.map((loss, r) => recordingTrainer(loss, perRank[r], 2 ** 17, sizes));
      const results = await Promise.all(
        rings.map((ring, r) =>
          trainStep(trainers[r].trainer, batch, ring, { lr: 1e-3, fp16Wire: true, stopRequested: r === 2, bucketMb }),
        ),
      );
      // Scaled into fp16, 4 × 0.99 × 2^17 would be far past 65504: Infinity. In fp32 it is the plain mean.
      const expectedMean = losses.map(Math.fround).reduce((a, b) => a + b, 0) / world;
      for (const [r, result] of results.entries()) {
        expect(result.loss).toBe(losses[r]);
        expect(result.meanLoss).toBeCloseTo(expectedMean, 6);
        expect(result.stopAll).toBe(true);
      }
      // Every rank applies bitwise the same averaged, unscaled gradients, within fp16 rounding of the mean.
      const first = trainers[0].applied[0];
      for (const t of trainers) expect(Buffer.from(t.applied[0].buffer).equals(Buffer.from(first.buffer))).toBe(true);
      // Error against the largest partial sum a hop carries: a few fp16 roundings (2^-11 each) of it.
      let worst = 0;
      for (let i = 0; i < length; i++) {
        const mean = perRank.reduce((sum, g) => sum + g[i], 0) / world;
        const magnitude = perRank.reduce((sum, g) => sum + Math.abs(g[i]), 0);
        worst = Math.max(worst, Math.abs(first[i] - mean) / magnitude);
      }
      expect(worst).toBeLessThan(4 * 2 ** -11);
      expect(worst).toBeGreaterThan(0); // it did go through fp16
    },
  );

  it.each([0, 0.004])(
    "carries loss and stop flag in the (first) fp32 bucket, and no stop unless asked, --bucket-mb %s",
    async (bucketMb) => {
      const world = 3;
      rings = await openRing(world, { sharedMemory: false, chunkBytes: 4096 });
      const perRank = [0, 1, 2].map((r) => Float32Array.from({ length: 5003 }, (_, i) => (i % 97) * 0.5 + r));
      const trainers = perRank.map((g, r) => recordingTrainer(0.5 + r * 0.25, g, 1, [2003, 1500, 1500]));
      const results = await Promise.all(
        rings.map((ring, r) =>
          trainStep(trainers[r].trainer, batch, ring, { lr: 1e-3, fp16Wire: false, stopRequested: false, bucketMb }),
        ),
      );
      for (const result of results) {
        expect(result.meanLoss).toBeCloseTo(0.75, 6);
        expect(result.stopAll).toBe(false);
      }
      const expected = perRank[0].map((_, i) => (perRank[0][i] + perRank[1][i] + perRank[2][i]) / 3);
      for (const t of trainers) expect(Array.from(t.applied[0])).toEqual(Array.from(expected.map(Math.fround)));
    },
  );

  it("starts each bucket inside backward once its gradients are in, in plan order, the first carrying the loss", async () => {
    const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [4, 8, 16] }, 2);
    const real = createTrainer(unet);
    const reported = new Set<number>();
    let inBackward = false;
    const trainer: Trainer = {
      paramCount: real.paramCount,
      paramSizes: real.paramSizes,
      lossScale: 1,
      skippedSteps: 0,
      computeGradients: (x, labels, shape, options = {}) => {
        inBackward = true;
        const result = real.computeGradients(x, labels, shape, {
          ...options,
          onGradient: (i) => {
            reported.add(i);
            options.onGradient?.(i);
          },
        });
        inBackward = false;
        return result;
      },
      applyGradients: (grads, lr) => real.applyGradients(grads, lr),
      getState: () => real.getState(),
      setState: (state) => real.setState(state),
    };
    const n = real.paramCount;
    const exchange = new Float32Array(n + 2);
    const calls: { lo: number; hi: number; inBackward: boolean; reported: Set<number> }[] = [];
    const collectives: StepCollectives = {
      buffer: () => exchange,
      allReduce: (data) => {
        const lo = (data.byteOffset - exchange.byteOffset) / 4;
        calls.push({ lo, hi: lo + data.length, inBackward, reported: new Set(reported) });
        return Promise.resolve();
      },
    };
    const shape: BatchShape = [1, 4, 8, 8, 2];
    const rng = new Rng(4);
    const x = Float32Array.from({ length: 4 * 8 * 8 * 2 }, () => rng.normal());
    const labels = Int32Array.from({ length: 4 * 8 * 8 }, () => rng.int(3));
    const bucketMb = 0.01;
    const result = await trainStep(trainer, { x, labels, shape }, collectives, {
      lr: 1e-3,
      fp16Wire: false,
      stopRequested: true,
      bucketMb,
    });
    const plan = gradientBuckets(real.paramSizes, bucketMb * (1 << 20));
    expect(plan.length).toBeGreaterThanOrEqual(4);
    expect(calls.map((c) => [c.lo, c.hi])).toEqual(plan.map((b, k) => [b.lo, k === 0 ? n + 2 : b.hi]));
    for (const [k, call] of calls.entries()) {
      expect(call.inBackward).toBe(true);
      expect(plan[k].params.every((i) => call.reported.has(i))).toBe(true); // all of its gradients were in
    }
    // all but the last bucket went before backward had finished: enc.0.0.weight, its last gradient, not yet in
    for (const call of calls.slice(0, -1)) expect(call.reported.has(0)).toBe(false);
    expect(exchange[n]).toBe(result.loss); // the loss rode in the first bucket (a ring of one keeps it)
    expect(result.stopAll).toBe(true);
    unet.dispose();
  });

  /**
   * Real trainers on a small U-Net, `world` ranks in this process: the final weights of every rank, after a
   * few steps of their own batches, and the live tensor count after each step.
   */
  async function trainRanks(world: number, sharedMemory: boolean, bucketMb: number, steps = 3) {
    const ranks = await openRing(world, { sharedMemory, chunkBytes: 1 << 16 });
    try {
      const nets = ranks.map(() => {
        const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [8, 16, 32, 64] }, 7);
        return { unet, trainer: createTrainer(unet, { lr: 1e-2 }) };
      });
      const shape: BatchShape = [1, 8, 8, 8, 2];
      const tensors: number[] = [];
      for (let step = 0; step < steps; step++) {
        await Promise.all(
          ranks.map((ring, r) => {
            const rng = new Rng(1000 * step + r);
            const x = Float32Array.from({ length: 8 * 8 * 8 * 2 }, () => rng.normal());
            const labels = Int32Array.from({ length: 8 * 8 * 8 }, () => rng.int(3));
            const options = { lr: 1e-2, fp16Wire: false, stopRequested: false, bucketMb };
            return trainStep(nets[r].trainer, { x, labels, shape }, ring, options);
          }),
        );
        tensors.push(tf.memory().numTensors);
      }
      const weights = nets.map(({ unet }) => readFlat(unet.params));
      const sharedUsed = ranks.every((ring) => ring.sharesMemory);
      for (const { unet } of nets) unet.dispose();
      return { weights, tensors, sharedUsed };
    } finally {
      closeAll(ranks);
    }
  }

  const bitwise = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

  // What holds: the shared-memory path sums each element in rank order whatever the bucket, so bucketed
  // equals unbucketed to the bit at any world size as long as every bucket is large enough to take that
  // path; the stream ring sums an element in an order that depends on which segment of the all-reduce it
  // falls in, which a bucket changes, so there only two ranks (a + b = b + a) are bitwise. Identical across
  // ranks holds everywhere (every rank takes the segment owner's sum). This net has 351,395 parameters:
  // 0.3 MiB makes 4 buckets, the last (26,592 floats) below shared memory's 65,536; 0.9 MiB makes 2, both
  // above it.
  it.each([
    [2, true, 0.3],
    [4, true, 0.9],
    [2, false, 0.3],
  ])(
    "bucketed ends bitwise equal to unbucketed, %s ranks, shared memory %s, %s MiB, no tensor leak",
    async (world, shm, mb) => {
      installNativeRingArithmetic();
      const one = await trainRanks(world, shm, 0);
      const several = await trainRanks(world, shm, mb);
      expect(several.sharedUsed).toBe(shm);
      for (const w of [...one.weights, ...several.weights]) expect(bitwise(w, one.weights[0])).toBe(true);
      expect(new Set(several.tensors).size).toBe(1);
      const initial = readFlat(createUNet({ inChannels: 2, numClasses: 3, channels: [8, 16, 32, 64] }, 7).params);
      expect(one.weights[0].some((v, i) => Math.abs(v - initial[i]) > 1e-3)).toBe(true); // the weights did move
    },
  );

  it("bucketed stays identical across 3 ranks on sockets and within rounding of unbucketed", async () => {
    installNativeRingArithmetic();
    const one = await trainRanks(3, false, 0);
    const several = await trainRanks(3, false, 0.3);
    for (const w of several.weights) expect(bitwise(w, several.weights[0])).toBe(true);
    let worst = 0;
    for (let i = 0; i < one.weights[0].length; i++)
      worst = Math.max(worst, Math.abs(one.weights[0][i] - several.weights[0][i]));
    expect(worst).toBeLessThan(1e-4);
  });
});
