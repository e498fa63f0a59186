import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../kernelConfig.js";
import { convGeometry, runWindowKernel, type Shape5, shapeIs } from "./convGeometry.js";

/**
 * Conv3DBackpropInputV2 on oneDNN (native/src/Conv3DBackpropInputV2.cc): the gradient of Conv3D for its input
 * and the forward pass of conv3dTranspose. tfjs never dilates it; a dy that disagrees with inputShape runs the
 * plain kernel (which reports the error).
 */
export const conv3DBackpropInputV2Config: NativeKernelConfig = {
  kernelName: tf.Conv3DBackpropInputV2,
  make: (addon, fallback) => (args) => {
    const { strides, pad, inputShape } = args.attrs as unknown as tf.Conv3DBackpropInputV2Attrs;
    return runWindowKernel(
      tf.Conv3DBackpropInputV2,
      fallback,
      args,
      ["dy", "filter"],
      ({ dy, filter }) => {
        if (inputShape.length !== 5 || filter.shape.length !== 5) return null;
        const info = tf.backend_util.computeConv3DInfo(inputShape, filter.shape as Shape5, strides, 1, pad);
        const geometry = convGeometry(info);
        if (!geometry || !shapeIs(dy, info.outShape) || inputShape[4] !== filter.shape[3]) return null;
        return { geometry, outShape: [...inputShape] };
      },
      (v, dx, geometry) => addon.conv3dBackpropInput(v.dy, v.filter, dx, geometry),
    );
  },
};
