import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../register.js";
import { poolGeometry, type Shape5, shapeIs } from "./convGeometry.js";
import {
  type CpuBackendLike,
  float32Values,
  type KernelInputs,
  runFallback,
  uninitializedFloat32,
} from "./cpuTensors.js";

/**
 * MaxPool3DGrad (native/src/MaxPool3DGrad.cc): tfjs passes {dy, input, output}; the winners are found again
 * from input, as the plain kernel does, so `output` is not read. Where window height and width differ the
 * plain tfjs 4.22 kernel is wrong (maxPool3dPositions numbers positions with the height as the row stride);
 * the native kernel gives the true gradient there, checked by finite differences in its test.
 */
export const maxPool3DGradConfig: NativeKernelConfig = {
  kernelName: tf.MaxPool3DGrad,
  make: (addon, fallback) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const { dy, input } = args.inputs as KernelInputs<"dy" | "input">;
    const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.MaxPool3DGradAttrs;
    const dyValues = float32Values(backend, dy);
    const inputValues = float32Values(backend, input);
    if (!dyValues || !inputValues || input.shape.length !== 5) return runFallback(tf.MaxPool3DGrad, fallback, args);
    const info = tf.backend_util.computePool3DInfo(input.shape as Shape5, filterSize, strides, 1, pad, dimRoundingMode);
    const geometry = poolGeometry(info);
    if (!geometry || !shapeIs(dy, info.outShape)) return runFallback(tf.MaxPool3DGrad, fallback, args);
    const dx = uninitializedFloat32(tf.util.sizeFromShape(input.shape));
    addon.maxPool3dGrad(dyValues, inputValues, dx, geometry);
    return backend.makeTensorInfo([...input.shape], "float32", dx);
  },
};
