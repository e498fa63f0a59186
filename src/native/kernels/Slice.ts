import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../kernelConfig.js";
import { allocateValues, type CpuBackendLike, type KernelInputs, runFallback, typedValues } from "./cpuTensors.js";

/**
 * Slice of any rank: one memcpy per contiguous run (native/src/Slice.cc). A slice that is one contiguous range
 * goes to the plain kernel, which returns a zero-copy view.
 */
export const sliceConfig: NativeKernelConfig = {
  kernelName: tf.Slice,
  make: (addon, fallback) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const { x } = args.inputs as KernelInputs<"x">;
    const { begin, size } = args.attrs as unknown as tf.SliceAttrs;
    const values = typedValues(backend, x);
    if (!values || x.shape.length === 0) return runFallback(tf.Slice, fallback, args);
    const [$begin, $size] = tf.slice_util.parseSliceParams(x, begin, size);
    tf.slice_util.assertParamsValid(x, $begin, $size);
    if (tf.slice_util.isSliceContinous(x.shape, $begin, $size)) return runFallback(tf.Slice, fallback, args);
    const out = allocateValues(x.dtype, tf.util.sizeFromShape($size));
    addon.slice(values, out, x.shape, $begin, $size);
    return backend.makeTensorInfo($size, x.dtype, out);
  },
};
