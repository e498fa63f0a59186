import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../register.js";
import { poolGeometry, type Shape5 } from "./convGeometry.js";
import {
  type CpuBackendLike,
  float32Values,
  type KernelInputs,
  runFallback,
  uninitializedFloat32,
} from "./cpuTensors.js";

/** MaxPool3D, NDHWC, hand-written OpenMP loops (native/src/MaxPool3D.cc) with tfjs's semantics. */
export const maxPool3DConfig: NativeKernelConfig = {
  kernelName: tf.MaxPool3D,
  make: (addon, fallback) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const { x } = args.inputs as KernelInputs<"x">;
    const { filterSize, strides, pad, dimRoundingMode, dataFormat } = args.attrs as unknown as tf.MaxPool3DAttrs;
    const xValues = float32Values(backend, x);
    if (dataFormat === "NCDHW" || !xValues || x.shape.length !== 5) return runFallback(tf.MaxPool3D, fallback, args);
    const info = tf.backend_util.computePool3DInfo(x.shape as Shape5, filterSize, strides, 1, pad, dimRoundingMode);
    const geometry = poolGeometry(info);
    if (!geometry) return runFallback(tf.MaxPool3D, fallback, args);
    const y = uninitializedFloat32(tf.util.sizeFromShape(info.outShape));
    addon.maxPool3d(xValues, y, geometry);
    return backend.makeTensorInfo(info.outShape, "float32", y);
  },
};
