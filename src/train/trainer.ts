import * as tf from "@tensorflow/tfjs";
import { DEFAULT_DICE_SMOOTH, softDiceLoss } from "../model/ops/softDice.js";
import { flatSize, flattenGrads, readFlat, writeFlat } from "../model/paramLayout.js";
import type { UNet } from "../model/unet.js";
import { Adam, type AdamState, DEFAULT_ADAM } from "./adam.js";
import { allFinite, DynamicLossScaler, type LossScaleState } from "./lossScale.js";

/**
 * The model's optimisation state and its two halves of a step, split where the all-reduce goes
 * (trainStep.ts puts them together):
 *
 *   const { loss, grads } = trainer.computeGradients(x, labels, [N, Z, Y, X, C]);  // forward + backward
 *   await ring.allReduce(grads);                                                   // average across ranks
 *   trainer.applyGradients(grads);                                                 // Adam, identical on every rank
 *
 * The decision to skip a step (non-finite gradients) is taken in applyGradients, on the averaged
 * gradients, so every rank takes the same decision and the loss scale stays identical everywhere.
 */

export interface TrainerOptions {
  lr: number;
  /** Dynamic loss scaling (see lossScale.ts for what mixed precision does and does not mean here). */
  amp: boolean;
  smooth: number;
}

export type BatchShape = [number, number, number, number, number];

export interface GradientResult {
  /** The unscaled soft Dice loss of this rank's batch. */
  loss: number;
  /** Gradients × gradScale, flat in `unet.params` order: the caller's `into`, or a fresh array it owns. */
  grads: Float32Array;
  /** This rank's gradients are free of Inf/NaN (the step decision waits for the averaged gradients). */
  finite: boolean;
}

export interface ApplyResult {
  applied: boolean;
  /** The loss scale for the next step (1 without --amp). */
  lossScale: number;
}

export interface TrainerState {
  adam: AdamState;
  lossScale: LossScaleState | null;
  /** Steps skipped for non-finite gradients (counted with or without --amp). */
  skippedSteps: number;
}

export interface Trainer {
  readonly paramCount: number;
  /** The dynamic loss scale (1 without --amp): what gradients should stay multiplied by on an fp16 wire. */
  readonly lossScale: number;
  readonly skippedSteps: number;
  /**
   * Forward and backward; gradients are written into `into` when given (e.g. the ring's shared buffer),
   * multiplied by `gradScale` (default 1: the true gradients; the loss scale leaves them as backward made them).
   */
  computeGradients(
    x: Float32Array,
    labels: Int32Array,
    batchShape: BatchShape,
    into?: Float32Array,
    gradScale?: number,
  ): GradientResult;
  /** Adam at `lr` (default: the trainer's configured rate; the worker passes its schedule's rate for the step). */
  applyGradients(grads: Float32Array, lr?: number): ApplyResult;
  getState(): TrainerState;
  setState(state: TrainerState): void;
}

export function createTrainer(unet: UNet, options: Partial<TrainerOptions> = {}): Trainer {
  const { lr, amp, smooth } = { lr: DEFAULT_ADAM.lr, amp: false, smooth: DEFAULT_DICE_SMOOTH, ...options };
  const vars = unet.params.map((p) => p.variable);
  const size = flatSize(unet.params);
  const adam = new Adam(size, { lr });
  const scaler = amp ? new DynamicLossScaler() : null;
  // Reused between steps: 22 MB for the bench U-Net is worth not reallocating.
  const params = new Float32Array(size);
  let skippedSteps = 0;

  function computeGradients(
    x: Float32Array,
    labels: Int32Array,
    batchShape: BatchShape,
    into?: Float32Array,
    gradScale = 1,
  ): GradientResult {
    const [n, z, y, xSize, c] = batchShape;
    if (x.length !== n * z * y * xSize * c) {
      throw new Error(`computeGradients: ${x.length} input values for batch shape [${batchShape}]`);
    }
    if (labels.length !== n * z * y * xSize) {
      throw new Error(`computeGradients: ${labels.length} labels for batch shape [${batchShape}]`);
    }
    const scale = scaler?.scale ?? 1;
    if (into && into.length !== size) throw new Error(`computeGradients: ${into.length} floats for ${size} gradients`);
    const grads = into ?? new Float32Array(size);
    const scaledLoss = tf.tidy(() => {
      const input = tf.tensor5d(x, batchShape, "float32");
      const target = tf.tensor4d(labels, [n, z, y, xSize], "int32");
      const { value, grads: named } = tf.variableGrads(() => {
        const loss = softDiceLoss(unet.apply(input, true), target, smooth);
        return scale === 1 ? loss : tf.mul(loss, scale);
      }, vars);
      flattenGrads(unet.params, named, grads);
      return value.dataSync()[0];
    });
    if (gradScale !== scale) {
      const factor = gradScale / scale;
      for (let i = 0; i < grads.length; i++) grads[i] *= factor;
    }
    return { loss: scaledLoss / scale, grads, finite: allFinite(grads) };
  }

  function applyGradients(grads: Float32Array, lr?: number): ApplyResult {
    const finite = allFinite(grads);
    const apply = scaler ? scaler.update(finite) : finite;
    if (!apply) {
      skippedSteps++;
      return { applied: false, lossScale: scaler?.scale ?? 1 };
    }
    // Read back from the variables each step, so a checkpoint restore or weight broadcast that wrote the
    // variables directly is never overwritten by a stale copy.
    readFlat(unet.params, params);
    adam.update(params, grads, lr);
    writeFlat(unet.params, params);
    return { applied: true, lossScale: scaler?.scale ?? 1 };
  }

  return {
    paramCount: size,
    get lossScale() {
      return scaler?.scale ?? 1;
    },
    get skippedSteps() {
      return skippedSteps;
    },
    computeGradients,
    applyGradients,
    getState: () => ({ adam: adam.getState(), lossScale: scaler?.getState() ?? null, skippedSteps }),
    setState: (state) => {
      adam.setState(state.adam);
      if (scaler && state.lossScale) scaler.setState(state.lossScale);
      skippedSteps = state.skippedSteps;
    },
  };
}
