import type { BatchShape, Trainer } from "./trainer.js";

/**
 * One synchronous data-parallel training step, in the order it runs:
 *
 *   forward + backward → gradients straight into the exchange buffer
 *   all-reduce: gradients (fp16 on the wire with --amp, scaled by the loss scale), loss and stop flag (fp32)
 *   Adam on the averaged gradients, identical on every rank (a non-finite average skips the step everywhere)
 *
 * The worker loop calls it once per planned step; tests call it with rings or in-memory collectives.
 */
export interface StepCollectives {
  /** An array that all-reduces without a copy (RingAllReduce.buffer); its contents last until the next collective. */
  buffer(length: number): Float32Array;
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
  /** Seconds spent in the all-reduces, waiting for the slowest rank included. */
  allreduceSeconds: number;
}

export async function trainStep(
  trainer: Trainer,
  batch: StepBatch,
  collectives: StepCollectives,
  options: StepOptions,
): Promise<StepResult> {
  const n = trainer.paramCount;
  // gradients | loss | stop flag: one buffer, so without fp16 one collective carries all three
  const exchange = collectives.buffer(n + 2);
  const grads = exchange.subarray(0, n);
  // On an fp16 wire the gradients stay multiplied by the loss scale, so that small ones survive the cast.
  const wireScale = options.fp16Wire ? trainer.lossScale : 1;
  const { loss } = trainer.computeGradients(batch.x, batch.labels, batch.shape, grads, wireScale);
  exchange[n] = loss;
  exchange[n + 1] = options.stopRequested ? 1 : 0;

  const t0 = performance.now();
  if (options.fp16Wire) {
    await collectives.allReduce(grads, { average: true, fp16: true });
    await collectives.allReduce(exchange.subarray(n), { average: true });
    if (wireScale !== 1) {
      const inverse = 1 / wireScale;
      for (let i = 0; i < n; i++) grads[i] *= inverse;
    }
  } else {
    await collectives.allReduce(exchange, { average: true });
  }
  const allreduceSeconds = (performance.now() - t0) / 1000;

  const meanLoss = exchange[n];
  const stopAll = exchange[n + 1] > 0;
  const { applied, lossScale } = trainer.applyGradients(grads, options.lr);
  return { loss, meanLoss, stopAll, applied, lossScale, allreduceSeconds };
}
