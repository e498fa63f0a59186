import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../register.js";
import { convGeometry, type Shape5, shapeIs } from "./convGeometry.js";
import {
  type CpuBackendLike,
  float32Values,
  type KernelInputs,
  runFallback,
  uninitializedFloat32,
} from "./cpuTensors.js";

/**
 * Conv3DBackpropInputV2 on oneDNN (native/src/Conv3DBackpropInputV2.cc): the gradient of Conv3D for its input
 * and the forward pass of conv3dTranspose. tfjs never dilates it; a dy that disagrees with inputShape runs the
 * plain kernel (which reports the error).
 */
export const conv3DBackpropInputV2Config: NativeKernelConfig = {
  kernelName: tf.Conv3DBackpropInputV2,
  make: (addon, fallback) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const { dy, filter } = args.inputs as KernelInputs<"dy" | "filter">;
    const { strides, pad, inputShape } = args.attrs as unknown as tf.Conv3DBackpropInputV2Attrs;
    const dyValues = float32Values(backend, dy);
    const filterValues = float32Values(backend, filter);
    if (!dyValues || !filterValues || inputShape.length !== 5 || filter.shape.length !== 5)
      return runFallback(tf.Conv3DBackpropInputV2, fallback, args);
    const info = tf.backend_util.computeConv3DInfo(inputShape, filter.shape as Shape5, strides, 1, pad);
    const geometry = convGeometry(info);
    if (!geometry || !shapeIs(dy, info.outShape) || inputShape[4] !== filter.shape[3])
      return runFallback(tf.Conv3DBackpropInputV2, fallback, args);
    const dx = uninitializedFloat32(tf.util.sizeFromShape(inputShape));
    addon.conv3dBackpropInput(dyValues, filterValues, dx, geometry);
    return backend.makeTensorInfo([...inputShape], "float32", dx);
  },
};
