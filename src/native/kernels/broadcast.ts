import * as tf from "@tensorflow/tfjs";
import type { NativeAddon } from "../addon.js";
import {
  type CpuBackendLike,
  float32Values,
  type KernelInputs,
  runFallback,
  uninitializedFloat32,
} from "./cpuTensors.js";

/**
 * The output shape when the addon's flat broadcast (out[i] = a[i mod na] ∘ b[i mod nb]) is exact: one operand
 * has the output's size and the other, leading ones dropped, is the output's trailing dimensions (a bias over
 * channels, a scalar, or the same shape). Null for any other broadcast.
 */
export function trailingBroadcastShape(a: number[], b: number[]): number[] | null {
  const out = tf.backend_util.assertAndGetBroadcastShape(a, b);
  const size = tf.util.sizeFromShape(out);
  const [full, short] = tf.util.sizeFromShape(a) === size ? [a, b] : [b, a];
  if (tf.util.sizeFromShape(full) !== size || size === 0) return null;
  const firstNonOne = short.findIndex((d) => d !== 1);
  const tail = firstNonOne < 0 ? [] : short.slice(firstNonOne);
  const outTail = out.slice(out.length - tail.length);
  return tail.every((d, i) => d === outTail[i]) ? out : null;
}

/** A float32 binary kernel on the addon's flat broadcast; other dtypes and broadcasts use the plain kernel. */
export function broadcastBinaryKernel(
  kernelName: string,
  op: (addon: NativeAddon, a: Float32Array, b: Float32Array, out: Float32Array) => void,
): (addon: NativeAddon, fallback: tf.KernelFunc | undefined) => tf.KernelFunc {
  return (addon, fallback) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const { a, b } = args.inputs as KernelInputs<"a" | "b">;
    const aValues = float32Values(backend, a);
    const bValues = float32Values(backend, b);
    const outShape = aValues && bValues ? trailingBroadcastShape(a.shape, b.shape) : null;
    if (!aValues || !bValues || !outShape) return runFallback(kernelName, fallback, args);
    const out = uninitializedFloat32(tf.util.sizeFromShape(outShape));
    op(addon, aValues, bValues, out);
    return backend.makeTensorInfo(outShape, "float32", out);
  };
}
