import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../kernelConfig.js";
import { allocateValues, type CpuBackendLike, type KernelInputs, runFallback, typedValues } from "./cpuTensors.js";

/**
 * SplitV along any axis but the first (concat's gradient splits dy on the channel axis): one pass over x
 * writing every output (native/src/Concat.cc). When the split axis has nothing before it, each part is a
 * contiguous range and the plain kernel's zero-copy views are better.
 */
export const splitVConfig: NativeKernelConfig = {
  kernelName: tf.SplitV,
  make: (addon, fallback) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const { x } = args.inputs as KernelInputs<"x">;
    const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
    const values = typedValues(backend, x);
    const $axis = tf.util.parseAxisParam(axis, x.shape)[0];
    const outer = tf.util.sizeFromShape(x.shape.slice(0, $axis));
    if (!values || values.length === 0 || outer === 1) return runFallback(tf.SplitV, fallback, args);
    const sizes = tf.backend_util.prepareSplitSize(x, numOrSizeSplits, $axis);
    const shapes = sizes.map((s) => x.shape.map((d, i) => (i === $axis ? s : d)));
    const outputs = shapes.map((shape) => allocateValues(x.dtype, tf.util.sizeFromShape(shape)));
    addon.split(values, outputs, outer);
    return outputs.map((out, i) => backend.makeTensorInfo(shapes[i], x.dtype, out));
  },
};
