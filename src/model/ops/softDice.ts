import * as tf from "@tensorflow/tfjs";
import { type SoftDiceAttrs, VoxKernel } from "../../native/kernelNames.js";
import { fusedOrPlain, hasKernel } from "./kernel.js";

/**
 * Softmax + soft Dice loss over classes, fused: logits [N, D, H, W, K] and integer labels [N, D, H, W].
 * Over all N and voxels, I_k = Σ p_k·g_k, P_k = Σ p_k, T_k = Σ g_k (g the one-hot of the labels) and
 * loss = 1 − mean_k (2·I_k + smooth) / (P_k + T_k + smooth).
 *
 * The backward needs only probs and the three per-class sums, never the softmax's own graph, which is why
 * it is one op: on the plain backend `tf.softmax` and its gradient would cost more than the convolutions.
 * VoxSoftDiceLoss / VoxSoftDiceLossGrad (native) replace the plain versions when registered.
 */

export const DEFAULT_DICE_SMOOTH = 1e-5;

export interface SoftDiceForward {
  loss: tf.Scalar;
  probs: tf.Tensor;
  intersect: tf.Tensor1D;
  predSum: tf.Tensor1D;
  truthSum: tf.Tensor1D;
}

// ---- plain tfjs reference implementations ----

export function softDiceLossPlain(logits: tf.Tensor, labels: tf.Tensor, smooth: number): SoftDiceForward {
  return tf.tidy(() => {
    const classes = logits.shape[logits.rank - 1];
    const probs = tf.softmax(logits);
    const p = tf.reshape(probs, [-1, classes]);
    const g = tf.cast(tf.oneHot(tf.reshape(labels, [-1]), classes), "float32");
    const intersect = tf.sum(tf.mul(p, g), 0) as tf.Tensor1D;
    const predSum = tf.sum(p, 0) as tf.Tensor1D;
    const truthSum = tf.sum(g, 0) as tf.Tensor1D;
    const dice = tf.div(tf.add(tf.mul(intersect, 2), smooth), tf.add(tf.add(predSum, truthSum), smooth));
    const loss = tf.sub(1, tf.mean(dice)) as tf.Scalar;
    return { loss, probs, intersect, predSum, truthSum };
  });
}

/**
 * dloss/dlogits. With den_k = P_k + T_k + smooth and D_k = (2·I_k + smooth)/den_k,
 * dloss/dp_k = −(2·g_k − D_k) / (K·den_k), then through the softmax: dz = p ⊙ (dp − Σ_k p_k·dp_k).
 */
export function softDiceLossGradPlain(
  dloss: tf.Scalar,
  probs: tf.Tensor,
  labels: tf.Tensor,
  intersect: tf.Tensor1D,
  predSum: tf.Tensor1D,
  truthSum: tf.Tensor1D,
  smooth: number,
): tf.Tensor {
  return tf.tidy(() => {
    const classes = probs.shape[probs.rank - 1];
    const den = tf.add(tf.add(predSum, truthSum), smooth);
    const dice = tf.div(tf.add(tf.mul(intersect, 2), smooth), den);
    const perClass = tf.div(dloss, tf.mul(den, classes)); // dloss / (K·den_k)
    const offset = tf.mul(dice, perClass); // the part of dp that does not depend on g
    const slope = tf.mul(perClass, -2); // the part multiplied by g
    const p = tf.reshape(probs, [-1, classes]);
    const g = tf.cast(tf.oneHot(tf.reshape(labels, [-1]), classes), "float32");
    const dp = tf.add(tf.mul(g, slope), offset);
    const dz = tf.mul(p, tf.sub(dp, tf.sum(tf.mul(p, dp), 1, true)));
    return tf.reshape(dz, probs.shape);
  });
}

// ---- dispatch and the differentiable op ----

function forward(logits: tf.Tensor, labels: tf.Tensor, smooth: number): SoftDiceForward {
  return fusedOrPlain(
    VoxKernel.SoftDiceLoss,
    { logits, labels },
    { smooth } satisfies SoftDiceAttrs,
    ["loss", "probs", "intersect", "predSum", "truthSum"],
    () => softDiceLossPlain(logits, labels, smooth),
  );
}

function backward(
  dloss: tf.Scalar,
  probs: tf.Tensor,
  labels: tf.Tensor,
  intersect: tf.Tensor1D,
  predSum: tf.Tensor1D,
  truthSum: tf.Tensor1D,
  smooth: number,
): tf.Tensor {
  if (hasKernel(VoxKernel.SoftDiceLossGrad)) {
    return tf.engine().runKernel(VoxKernel.SoftDiceLossGrad, { dloss, probs, labels, intersect, predSum, truthSum }, {
      smooth,
    } satisfies SoftDiceAttrs) as tf.Tensor;
  }
  return softDiceLossGradPlain(dloss, probs, labels, intersect, predSum, truthSum, smooth);
}

/**
 * The soft Dice loss as a scalar with a gradient for the logits (labels are int32 class indices and get
 * none). Softmax is inside: feed raw logits.
 */
export function softDiceLoss(logits: tf.Tensor, labels: tf.Tensor, smooth = DEFAULT_DICE_SMOOTH): tf.Scalar {
  if (labels.dtype !== "int32") throw new Error(`softDiceLoss: labels must be int32, got ${labels.dtype}`);
  if (labels.size * logits.shape[logits.rank - 1] !== logits.size) {
    throw new Error(`softDiceLoss: labels ${labels.shape} do not match logits ${logits.shape}`);
  }
  // Labels reach the forward through the closure, not as an input: customGrad wants a gradient per input.
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [logitsIn, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const f = forward(logitsIn, labels, smooth);
    save([f.probs, labels, f.intersect, f.predSum, f.truthSum]);
    return {
      value: f.loss,
      gradFunc: (dloss: tf.Tensor, saved: tf.Tensor[]) => {
        const [probs, savedLabels, intersect, predSum, truthSum] = saved;
        return backward(
          dloss as tf.Scalar,
          probs,
          savedLabels,
          intersect as tf.Tensor1D,
          predSum as tf.Tensor1D,
          truthSum as tf.Tensor1D,
          smooth,
        );
      },
    };
  });
  return op(logits) as tf.Scalar;
}
