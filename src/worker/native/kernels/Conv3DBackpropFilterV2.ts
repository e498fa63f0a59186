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
 * Conv3DBackpropFilterV2 on oneDNN (native/src/Conv3DBackpropFilterV2.cc): the gradient of Conv3D for its
 * filter, DHWIO. Also the filter gradient of conv3dTranspose (with x and dy swapped by the caller).
 */
export const conv3DBackpropFilterV2Config: NativeKernelConfig = {
  kernelName: tf.Conv3DBackpropFilterV2,
  make: (addon, fallback) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const { x, dy } = args.inputs as KernelInputs<"x" | "dy">;
    const { strides, pad, filterShape } = args.attrs as unknown as tf.Conv3DBackpropFilterV2Attrs;
    const xValues = float32Values(backend, x);
    const dyValues = float32Values(backend, dy);
    if (!xValues || !dyValues || x.shape.length !== 5 || filterShape.length !== 5)
      return runFallback(tf.Conv3DBackpropFilterV2, fallback, args);
    const info = tf.backend_util.computeConv3DInfo(x.shape as Shape5, filterShape, strides, 1, pad);
    const geometry = convGeometry(info);
    if (!geometry || !shapeIs(dy, info.outShape) || x.shape[4] !== filterShape[3])
      return runFallback(tf.Conv3DBackpropFilterV2, fallback, args);
    const dw = uninitializedFloat32(tf.util.sizeFromShape(filterShape));
    addon.conv3dBackpropFilter(xValues, dyValues, dw, geometry);
    return backend.makeTensorInfo([...filterShape], "float32", dw);
  },
};
