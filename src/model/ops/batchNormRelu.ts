import * as tf from "@tensorflow/tfjs";
import { type BatchNormReluAttrs, VoxKernel } from "../../native/kernelNames.js";
import { fusedOrPlain, hasKernel, reclaim } from "./kernel.js";

/**
 * Batch norm (statistics per channel over N, D, H, W) fused with an optional ReLU, for NDHWC tensors.
 *
 * tfjs has no rank-5 batch norm and its `tf.moments` is slow, so the plain path flattens to [N·D·H·W, C]
 * and writes the maths out. When the native addon has registered VoxBatchNormReluTrain / Grad / Infer on
 * the active backend, the ops below run those instead; both paths have the semantics of the project
 * contract (notes/contracts.md), which the unit tests pin down against finite differences.
 */

export const DEFAULT_BN_EPSILON = 1e-5;

// ---- plain tfjs reference implementations (also what the native kernels are tested against) ----

function asRows(x: tf.Tensor): tf.Tensor2D {
  const channels = x.shape[x.rank - 1];
  return tf.reshape(x, [x.size / channels, channels]);
}

/** Forward in training mode: y from the batch statistics; variance is the biased one (÷ N·D·H·W). */
export function batchNormReluTrainPlain(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
  relu: boolean,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  return tf.tidy(() => {
    const rows = asRows(x);
    const count = rows.shape[0];
    const mean = tf.div(tf.sum(rows, 0), count) as tf.Tensor1D;
    const centered = tf.sub(rows, mean);
    // Two passes (centre, then square) rather than E[x²]−E[x]², which cancels badly in float32.
    const variance = tf.div(tf.sum(tf.square(centered), 0), count) as tf.Tensor1D;
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, epsilon)));
    let y: tf.Tensor = tf.add(tf.mul(centered, scale), beta);
    if (relu) y = tf.relu(y);
    return { y: tf.reshape(y, x.shape), mean, variance };
  });
}

/** Backward of the training-mode forward; the ReLU mask is read from the forward output (y > 0). */
export function batchNormReluGradPlain(
  dy: tf.Tensor,
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  y: tf.Tensor,
  epsilon: number,
  relu: boolean,
): { dx: tf.Tensor; dgamma: tf.Tensor1D; dbeta: tf.Tensor1D } {
  return tf.tidy(() => {
    const rows = asRows(x);
    const count = rows.shape[0];
    let g = asRows(dy);
    if (relu) g = tf.mul(g, tf.step(asRows(y)));
    const invStd = tf.rsqrt(tf.add(variance, epsilon));
    const xhat = tf.mul(tf.sub(rows, mean), invStd);
    const dbeta = tf.sum(g, 0) as tf.Tensor1D;
    const dgamma = tf.sum(tf.mul(g, xhat), 0) as tf.Tensor1D;
    // dx = γ/σ · (g − mean(g) − x̂ · mean(g·x̂)): the batch statistics depend on every x.
    const inner = tf.sub(tf.sub(g, tf.div(dbeta, count)), tf.mul(xhat, tf.div(dgamma, count)));
    const dx = tf.mul(inner, tf.mul(gamma, invStd));
    return { dx: tf.reshape(dx, x.shape), dgamma, dbeta };
  });
}

/** Forward in eval mode, from given (running) statistics. */
export function batchNormReluInferPlain(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  epsilon: number,
  relu: boolean,
): tf.Tensor {
  return tf.tidy(() => {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, epsilon)));
    const shift = tf.sub(beta, tf.mul(mean, scale));
    const y = tf.add(tf.mul(x, scale), shift);
    return relu ? tf.relu(y) : y;
  });
}

// ---- dispatch: the native kernel when registered on the active backend, else the plain version ----

function trainForward(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, attrs: BatchNormReluAttrs) {
  return fusedOrPlain(VoxKernel.BatchNormReluTrain, { x, gamma, beta }, { ...attrs }, ["y", "mean", "variance"], () =>
    batchNormReluTrainPlain(x, gamma, beta, attrs.epsilon, attrs.relu),
  );
}

function trainBackward(
  dy: tf.Tensor,
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  y: tf.Tensor,
  attrs: BatchNormReluAttrs,
) {
  return fusedOrPlain(
    VoxKernel.BatchNormReluGrad,
    { dy, x, gamma, mean, variance, y },
    { ...attrs },
    ["dx", "dgamma", "dbeta"],
    () => batchNormReluGradPlain(dy, x, gamma, mean, variance, y, attrs.epsilon, attrs.relu),
  );
}

/**
 * Training-mode batch norm + ReLU with a gradient for x, gamma and beta. The batch mean and (biased)
 * variance come back beside y for the running-statistics update; they carry no gradient.
 */
export function batchNormReluTrain<T extends tf.Tensor>(
  x: T,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  attrs: BatchNormReluAttrs,
): { y: T; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  let stats: [tf.Tensor1D, tf.Tensor1D] | undefined;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, gammaIn, betaIn, save] = args as [T, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const { y, mean, variance } = trainForward(xIn, gammaIn, betaIn, attrs);
    save([xIn, gammaIn, mean, variance, y]);
    // The forward runs inside tfjs's own tidy, which keeps only `value`: keep the statistics explicitly.
    stats = [tf.keep(mean), tf.keep(variance)];
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sgamma, smean, svariance, sy] = saved;
        const g = trainBackward(
          dy,
          sx,
          sgamma as tf.Tensor1D,
          smean as tf.Tensor1D,
          svariance as tf.Tensor1D,
          sy,
          attrs,
        );
        return [g.dx, g.dgamma, g.dbeta];
      },
    };
  });
  const y = op(x, gamma, beta) as T;
  if (!stats) throw new Error("batchNormReluTrain: forward did not run");
  return { y, mean: reclaim(stats[0]), variance: reclaim(stats[1]) };
}

/** Eval-mode batch norm + ReLU from running statistics (no gradient of its own is needed). */
export function batchNormReluInfer<T extends tf.Tensor>(
  x: T,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  attrs: BatchNormReluAttrs,
): T {
  if (hasKernel(VoxKernel.BatchNormReluInfer)) {
    return tf.engine().runKernel(VoxKernel.BatchNormReluInfer, { x, gamma, beta, mean, variance }, { ...attrs }) as T;
  }
  return batchNormReluInferPlain(x, gamma, beta, mean, variance, attrs.epsilon, attrs.relu) as T;
}

export type BatchNormReluOptions = { epsilon?: number; relu?: boolean } & (
  | { training: true }
  | { training: false; mean: tf.Tensor1D; variance: tf.Tensor1D }
);

/**
 * The op as models use it: `training: true` normalises with the batch statistics and returns them;
 * `training: false` normalises with the given running statistics (and returns those same tensors).
 */
export function batchNormRelu<T extends tf.Tensor>(
  x: T,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  options: BatchNormReluOptions,
): { y: T; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const attrs = { epsilon: options.epsilon ?? DEFAULT_BN_EPSILON, relu: options.relu ?? true };
  if (options.training) return batchNormReluTrain(x, gamma, beta, attrs);
  const y = batchNormReluInfer(x, gamma, beta, options.mean, options.variance, attrs);
  return { y, mean: options.mean, variance: options.variance };
}
