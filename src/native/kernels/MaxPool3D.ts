import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../kernelConfig.js";
import { poolGeometry, runWindowKernel, type Shape5 } from "./convGeometry.js";

/** MaxPool3D, NDHWC, hand-written OpenMP loops (native/src/MaxPool3D.cc) with tfjs's semantics. */
export const maxPool3DConfig: NativeKernelConfig = {
  kernelName: tf.MaxPool3D,
  make: (addon, fallback) => (args) => {
    const { filterSize, strides, pad, dimRoundingMode, dataFormat } = args.attrs as unknown as tf.MaxPool3DAttrs;
    return runWindowKernel(
      tf.MaxPool3D,
      fallback,
      args,
      ["x"],
      ({ x }) => {
        if (dataFormat === "NCDHW" || x.shape.length !== 5) return null;
        const info = tf.backend_util.computePool3DInfo(x.shape as Shape5, filterSize, strides, 1, pad, dimRoundingMode);
        const geometry = poolGeometry(info);
        return geometry ? { geometry, outShape: info.outShape } : null;
      },
      (v, y, geometry) => addon.maxPool3d(v.x, y, geometry),
    );
  },
};
