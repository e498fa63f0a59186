import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../kernelConfig.js";
import { allocateValues, type CpuBackendLike, runFallback, typedValues } from "./cpuTensors.js";

/**
 * Concat along any axis (the U-Net's decoder concatenates skip and upsampled activations on the channel axis):
 * each tensor seen as outer × inner_i, rows copied side by side (native/src/Concat.cc). Empty inputs, a single
 * non-empty input, strings and complex numbers go to the plain kernel.
 */
export const concatConfig: NativeKernelConfig = {
  kernelName: tf.Concat,
  make: (addon, fallback) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const inputs = Object.values(args.inputs) as tf.TensorInfo[];
    const { axis } = args.attrs as unknown as tf.ConcatAttrs;
    if (inputs.length < 2) return runFallback(tf.Concat, fallback, args);
    const dtype = inputs[0].dtype;
    const values = inputs.map((t) => (t.dtype === dtype ? typedValues(backend, t) : null));
    const parts = values.filter((v): v is NonNullable<typeof v> => v !== null && v.length > 0);
    if (values.some((v) => v === null) || parts.length < 2) return runFallback(tf.Concat, fallback, args);
    const $axis = tf.util.parseAxisParam(axis, inputs[0].shape)[0];
    const shapes = inputs.map((t) => t.shape);
    tf.backend_util.assertParamsConsistent(shapes, $axis);
    const outShape = tf.backend_util.computeOutShape(shapes, $axis);
    const out = allocateValues(dtype, tf.util.sizeFromShape(outShape));
    addon.concat(parts, out, tf.util.sizeFromShape(outShape.slice(0, $axis)));
    return backend.makeTensorInfo(outShape, dtype, out);
  },
};
