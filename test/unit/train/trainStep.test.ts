import { afterEach, describe, expect, it } from "vitest";
import type { RingAllReduce } from "../../../src/comm/ring.js";
import { Rng } from "../../../src/random.js";
import type { ApplyResult, Trainer } from "../../../src/train/trainer.js";
import { trainStep } from "../../../src/train/trainStep.js";
import { closeAll, openRing } from "../comm/ringHelpers.js";

/**
 * A trainer whose backward pass writes known gradients (× the scale it is asked for) and whose update
 * records what it was given: what trainStep exchanges is then visible exactly.
 */
function recordingTrainer(loss: number, gradients: Float32Array, lossScale: number) {
  const applied: Float32Array[] = [];
  const trainer: Trainer = {
    paramCount: gradients.length,
    lossScale,
    skippedSteps: 0,
    computeGradients: (_x, _labels, _shape, into, gradScale = 1) => {
      const grads = into ?? new Float32Array(gradients.length);
      for (let i = 0; i < grads.length; i++) grads[i] = gradients[i] * gradScale;
      return { loss, grads, finite: true };
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

let rings: RingAllReduce[] = [];
afterEach(() => closeAll(rings));

describe("trainStep", () => {
  it("reduces a loss near 1 in fp32 beside fp16 gradients at loss scale 2^17, 4 ranks on sockets", async () => {
    const world = 4;
    const length = 30_011; // several chunks per segment
    rings = await openRing(world, { sharedMemory: false, chunkBytes: 8192 });
    const rng = new Rng(3);
    const losses = [0.9931, 0.9874, 1.0, 0.9712];
    const perRank = losses.map(() => Float32Array.from({ length }, () => rng.normal() * 1e-3));
    const trainers = losses.map((loss, r) => recordingTrainer(loss, perRank[r], 2 ** 17));
    const results = await Promise.all(
      rings.map((ring, r) =>
        trainStep(trainers[r].trainer, batch, ring, { lr: 1e-3, fp16Wire: true, stopRequested: r === 2 }),
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
  });

  it("carries everything in one fp32 all-reduce without an fp16 wire, and no stop unless asked", async () => {
    const world = 3;
    rings = await openRing(world, { sharedMemory: false, chunkBytes: 4096 });
    const perRank = [0, 1, 2].map((r) => Float32Array.from({ length: 5003 }, (_, i) => (i % 97) * 0.5 + r));
    const trainers = perRank.map((g, r) => recordingTrainer(0.5 + r * 0.25, g, 1));
    const results = await Promise.all(
      rings.map((ring, r) =>
        trainStep(trainers[r].trainer, batch, ring, { lr: 1e-3, fp16Wire: false, stopRequested: false }),
      ),
    );
    for (const result of results) {
      expect(result.meanLoss).toBeCloseTo(0.75, 6);
      expect(result.stopAll).toBe(false);
    }
    const expected = perRank[0].map((_, i) => (perRank[0][i] + perRank[1][i] + perRank[2][i]) / 3);
    for (const t of trainers) expect(Array.from(t.applied[0])).toEqual(Array.from(expected.map(Math.fround)));
  });
});
