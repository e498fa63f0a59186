import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../register.js";
import { convGeometry, type Shape5 } from "./convGeometry.js";
import {
  type CpuBackendLike,
  float32Values,
  type KernelInputs,
  runFallback,
  uninitializedFloat32,
} from "./cpuTensors.js";

/** Conv3D forward on oneDNN (native/src/Conv3D.cc); dilated or NCDHW convolutions run the plain kernel. */
export const conv3DConfig: NativeKernelConfig = {
  kernelName: tf.Conv3D,
  make: (addon, fallback) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const { x, filter } = args.inputs as KernelInputs<"x" | "filter">;
    const { strides, pad, dilations, dataFormat } = args.attrs as unknown as tf.Conv3DAttrs;
    const xValues = float32Values(backend, x);
    const filterValues = float32Values(backend, filter);
    if (dataFormat === "NCDHW" || !xValues || !filterValues || x.shape.length !== 5 || filter.shape.length !== 5)
      return runFallback(tf.Conv3D, fallback, args);
    const info = tf.backend_util.computeConv3DInfo(
      x.shape as Shape5,
      filter.shape as Shape5,
      strides,
      dilations ?? 1,
      pad,
    );
    const geometry = convGeometry(info);
    if (!geometry || x.shape[4] !== filter.shape[3]) return runFallback(tf.Conv3D, fallback, args);
    const y = uninitializedFloat32(tf.util.sizeFromShape(info.outShape));
    addon.conv3d(xValues, filterValues, y, geometry);
    return backend.makeTensorInfo(info.outShape, "float32", y);
  },
};
