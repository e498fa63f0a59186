import { gradientBuckets } from "../model/paramLayout.js";
import type { BatchShape, Trainer } from "./trainer.js";

/**
 * One synchronous data-parallel training step, in the order it runs:
 *
 *   forward + backward → each gradient straight into the exchange buffer as backward produces it; each
 *                        bucket of them (last layers first, --bucket-mb) starts its all-reduce once complete
 *   all-reduce: gradients (fp16 on the wire with --amp, scaled by the loss scale), loss and stop flag (fp32)
 *   Adam on the averaged gradients, once the last bucket is in, identical on every rank (a non-finite
 *   average skips the step everywhere)
 *
 * The worker loop calls it once per planned step; tests call it with rings or in-memory collectives.
 */
export interface StepCollectives {
  /** An array that all-reduces without a copy (RingAllReduce.buffer); its contents last until the next collective. */
  buffer(length: number): Float32Array;
  /**
   * Sums `data` across ranks in place. Called for several buckets before the first has finished (some from
   * inside backward, synchronously): it must run them one after the other in call order, as
   * RingAllReduce does, and every rank calls it in the same order with the same lengths.
   */
  allReduce(data: Float32Array, options: { average: boolean; fp16?: boolean }): Promise<void>;
}

export interface StepBatch {
  x: Float32Array;
  labels: Int32Array;
  shape: BatchShape;
}

export interface StepOptions {
  /** Learning rate of this step (the schedule's value at the global step). */
  lr: number;
  /** Half floats on the wire for the gradients (--amp without --deterministic). */
  fp16Wire: boolean;
  /** This rank wants the run to stop after this step; any rank's request stops every rank. */
  stopRequested: boolean;
  /** MiB of fp32 gradients per all-reduce bucket (--bucket-mb); 0: one bucket, all-reduced after backward. */
  bucketMb: number;
}

export interface StepResult {
  /** This rank's loss. */
  loss: number;
  /** The loss averaged over the ranks, reduced in fp32. */
  meanLoss: number;
  /** Some rank asked to stop: every rank stops after this step. */
  stopAll: boolean;
  applied: boolean;
  /** The loss scale for the next step (1 without --amp). */
  lossScale: number;
  /**
   * Seconds waited for the all-reduces after backward (the slowest rank included): what the overlap with
   * backward did not hide.
   */
  allreduceSeconds: number;
}

const MIB = 1 << 20;

export async function trainStep(
  trainer: Trainer,
  batch: StepBatch,
  collectives: StepCollectives,
  options: StepOptions,
): Promise<StepResult> {
  const n = trainer.paramCount;
  // gradients | loss | stop flag: one buffer, so without fp16 the first bucket carries all three
  const exchange = collectives.buffer(n + 2);
  const grads = exchange.subarray(0, n);
  exchange[n + 1] = options.stopRequested ? 1 : 0;
  // On an fp16 wire the gradients stay multiplied by the loss scale, so that small ones survive the cast.
  const wireScale = options.fp16Wire ? trainer.lossScale : 1;

  // Buckets start strictly in plan order, whatever order their last gradients arrive in: every rank then
  // issues the same collectives in the same order, which is how the ring pairs them up.
  const buckets = gradientBuckets(trainer.paramSizes, options.bucketMb * MIB);
  const bucketOf = new Int32Array(trainer.paramSizes.length);
  const missing = buckets.map((bucket, k) => {
    for (const i of bucket.params) bucketOf[i] = k;
    return bucket.params.length;
  });
  const lossInFirstBucket = !options.fp16Wire && buckets.length > 0;
  const reductions: Promise<void>[] = [];
  let started = 0;
  const startReady = () => {
    while (started < buckets.length && missing[started] === 0) {
      const { lo, hi } = buckets[started];
      // The first bucket ends where the gradients end: without fp16 the loss and stop flag ride along.
      const end = started === 0 && lossInFirstBucket ? n + 2 : hi;
      reductions.push(collectives.allReduce(exchange.subarray(lo, end), { average: true, fp16: options.fp16Wire }));
      started++;
    }
  };

  let loss: number;
  try {
    ({ loss } = trainer.computeGradients(batch.x, batch.labels, batch.shape, {
      into: grads,
      gradScale: wireScale,
      onLoss: (value) => {
        exchange[n] = value;
      },
      onGradient: (i) => {
        if (--missing[bucketOf[i]] === 0) startReady();
      },
    }));
    if (started !== buckets.length) throw new Error(`trainStep: ${buckets.length - started} buckets never filled`);
  } catch (error) {
    for (const r of reductions) r.catch(() => {}); // the step fails with this error, not theirs
    throw error;
  }

  const t0 = performance.now();
  await Promise.all(reductions);
  if (!lossInFirstBucket) await collectives.allReduce(exchange.subarray(n), { average: true });
  const allreduceSeconds = (performance.now() - t0) / 1000;
  if (wireScale !== 1) {
    const inverse = 1 / wireScale;
    for (let i = 0; i < n; i++) grads[i] *= inverse;
  }

  const meanLoss = exchange[n];
  const stopAll = exchange[n + 1] > 0;
  const { applied, lossScale } = trainer.applyGradients(grads, options.lr);
  return { loss, meanLoss, stopAll, applied, lossScale, allreduceSeconds };
}
