import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../kernelConfig.js";
import { type CpuBackendLike, float32Values, type KernelInputs, runFallback } from "./cpuTensors.js";

/**
 * x as [outer, reduced, inner] when the summed axes are one contiguous run (e.g. N, D, H, W of a channels-last
 * bias gradient); null otherwise. The plain kernel transposes first, which costs more than the sum.
 */
export function contiguousReduction(shape: number[], axes: number[]): [number, number, number] | null {
  const sorted = [...new Set(axes)].sort((p, q) => p - q);
  if (sorted.length === 0 || sorted.some((axis, i) => axis !== sorted[0] + i)) return null;
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  const size = (dims: number[]) => tf.util.sizeFromShape(dims);
  return [size(shape.slice(0, first)), size(shape.slice(first, last + 1)), size(shape.slice(last + 1))];
}

/** Sum of float32 over one contiguous run of axes, double accumulation (native/src/Sum.cc). */
export const sumConfig: NativeKernelConfig = {
  kernelName: tf.Sum,
  make: (addon, fallback) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const { x } = args.inputs as KernelInputs<"x">;
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const values = float32Values(backend, x);
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const dims = values && values.length > 0 ? contiguousReduction(x.shape, axes) : null;
    if (!values || !dims) return runFallback(tf.Sum, fallback, args);
    const outShape = keepDims
      ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !axes.includes(i));
    const out = new Float32Array(dims[0] * dims[2]);
    addon.sum(values, out, dims);
    return backend.makeTensorInfo(outShape, "float32", out);
  },
};
