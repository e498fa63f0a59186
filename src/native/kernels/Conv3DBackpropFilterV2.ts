import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../kernelConfig.js";
import { convGeometry, runWindowKernel, type Shape5, shapeIs } from "./convGeometry.js";

/**
 * Conv3DBackpropFilterV2 on oneDNN (native/src/Conv3DBackpropFilterV2.cc): the gradient of Conv3D for its
 * filter, DHWIO. Also the filter gradient of conv3dTranspose (with x and dy swapped by the caller).
 */
export const conv3DBackpropFilterV2Config: NativeKernelConfig = {
  kernelName: tf.Conv3DBackpropFilterV2,
  make: (addon, fallback) => (args) => {
    const { strides, pad, filterShape } = args.attrs as unknown as tf.Conv3DBackpropFilterV2Attrs;
    return runWindowKernel(
      tf.Conv3DBackpropFilterV2,
      fallback,
      args,
      ["x", "dy"],
      ({ x, dy }) => {
        if (x.shape.length !== 5 || filterShape.length !== 5) return null;
        const info = tf.backend_util.computeConv3DInfo(x.shape as Shape5, filterShape, strides, 1, pad);
        const geometry = convGeometry(info);
        if (!geometry || !shapeIs(dy, info.outShape) || x.shape[4] !== filterShape[3]) return null;
        return { geometry, outShape: [...filterShape] };
      },
      (v, dw, geometry) => addon.conv3dBackpropFilter(v.x, v.dy, dw, geometry),
    );
  },
};
