import * as tf from "@tensorflow/tfjs";
import { GradientHooks } from "../model/gradientHooks.js";
import { DEFAULT_DICE_SMOOTH, softDiceLoss } from "../model/ops/softDice.js";
import { areViewsOf, flatSize, readFlat, viewFlat } from "../model/paramLayout.js";
import type { UNet } from "../model/unet.js";
import { variableBuffers } from "../native/kernels/cpuTensors.js";
import { stepOutputs } from "../native/kernels/stepOutputs.js";
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
 * computeGradients reports each parameter's gradient as backward produces it (onGradient), so that the
 * caller can all-reduce buckets of them while backward goes on (trainStep.ts).
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

export interface GradientOptions {
  /** Where the gradients go (e.g. the ring's shared buffer); default a fresh array. */
  into?: Float32Array;
  /** Gradients come multiplied by this: default 1, the true gradients (the loss scale leaves them as made). */
  gradScale?: number;
  /** This rank's unscaled loss, as soon as the forward has it: before any onGradient. */
  onLoss?: (loss: number) => void;
  /**
   * Parameter `index` (unet.params order) has its whole gradient in the array now: once per parameter and
   * step, in the order backward produces them (last layers first), all of them before computeGradients
   * returns. Gradient-free parameters (conv biases in front of a batch norm) come as zeros right after the
   * forward.
   */
  onGradient?: (index: number) => void;
}

export interface GradientResult {
  /** The unscaled soft Dice loss of this rank's batch. */
  loss: number;
  /** Gradients × gradScale, flat in `unet.params` order: the caller's `into`, or a fresh array it owns. */
  grads: Float32Array;
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
  /** Elements of each parameter, in unet.params order (the flat layout of the gradients). */
  readonly paramSizes: readonly number[];
  /** The dynamic loss scale (1 without --amp): what gradients should stay multiplied by on an fp16 wire. */
  readonly lossScale: number;
  readonly skippedSteps: number;
  /** Forward and backward (see GradientOptions for where the gradients go and when they are reported). */
  computeGradients(
    x: Float32Array,
    labels: Int32Array,
    batchShape: BatchShape,
    options?: GradientOptions,
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
  // The weights Adam updates, which the variables are views of on the cpu backend: 22 MB for the default
  // U-Net that no step reallocates (fresh arrays of that size a step kept V8's major GC busy).
  const params = new Float32Array(size);
  const hooks = new GradientHooks(unet.params);
  let skippedSteps = 0;

  function computeGradients(
    x: Float32Array,
    labels: Int32Array,
    batchShape: BatchShape,
    { into, gradScale = 1, onLoss, onGradient }: GradientOptions = {},
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
    // Backward differentiates loss × scale; the hooks bring each gradient to × gradScale as they copy it.
    hooks.begin(grads, gradScale / scale, onGradient ?? (() => {}));
    let loss = 0;
    const tensorsBefore = tf.memory().numTensors;
    let finished = false;
    stepOutputs.begin();
    try {
      tf.tidy(() => {
        const input = tf.tensor5d(x, batchShape, "float32");
        const target = tf.tensor4d(labels, [n, z, y, xSize], "int32");
        tf.variableGrads(() => {
          const unscaled = softDiceLoss(unet.apply(input, true, hooks), target, smooth);
          loss = unscaled.dataSync()[0];
          onLoss?.(loss);
          hooks.forwardDone();
          return scale === 1 ? unscaled : tf.mul(unscaled, scale);
        }, vars);
        hooks.finish();
      });
      finished = true;
    } finally {
      stepOutputs.end(variableBuffers(), finished && tf.memory().numTensors === tensorsBefore);
    }
    return { loss, grads };
  }

  function applyGradients(grads: Float32Array, lr?: number): ApplyResult {
    const finite = allFinite(grads);
    const apply = scaler ? scaler.update(finite) : finite;
    if (!apply) {
      skippedSteps++;
      return { applied: false, lossScale: scaler?.scale ?? 1 };
    }
    // The variables are views of `params` (paramLayout.ts viewFlat) unless something wrote them since (a
    // checkpoint restore, a weight broadcast) or the backend keeps them off the host: then read them back
    // first, so that write is never overwritten by a stale copy.
    const inPlace = areViewsOf(unet.params, params);
    if (!inPlace) readFlat(unet.params, params);
    adam.update(params, grads, lr);
    if (!inPlace) viewFlat(unet.params, params);
    return { applied: true, lossScale: scaler?.scale ?? 1 };
  }

  return {
    paramCount: size,
    paramSizes: unet.params.map((p) => p.variable.size),
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
