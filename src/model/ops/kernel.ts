import * as tf from "@tensorflow/tfjs";

/**
 * True when the active backend has a kernel of this name (a fused Vox* kernel registered by the native
 * addon, for instance). Asked on every call rather than cached, because the backend and the registered
 * kernels can change after import (initBackend runs after the model modules load).
 */
export function hasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}

/**
 * Moves a tensor that was `tf.keep`-ed inside a customGrad forward (which runs in its own tidy and would
 * otherwise dispose every side output) back under the caller's scope: the clone shares the data and is
 * tracked by the current tidy, the kept handle is released.
 */
export function reclaim<T extends tf.Tensor>(kept: T): T {
  const tracked = kept.clone();
  kept.dispose();
  return tracked;
}

/**
 * Runs the fused kernel `kernelName` when the active backend has it registered, naming its outputs in order
 * (`outputs`), else `plain`, the tfjs version with the same outputs.
 */
export function fusedOrPlain<T extends { [K in keyof T]: tf.Tensor }>(
  kernelName: string,
  inputs: tf.NamedTensorMap,
  attrs: tf.NamedAttrMap,
  outputs: readonly (keyof T)[],
  plain: () => T,
): T {
  if (!hasKernel(kernelName)) return plain();
  const tensors = tf.engine().runKernel(kernelName, inputs, attrs) as tf.Tensor[];
  return Object.fromEntries(outputs.map((name, i) => [name, tensors[i]])) as T;
}
