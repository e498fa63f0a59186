import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../kernelConfig.js";
import { poolGeometry, runWindowKernel, type Shape5, shapeIs } from "./convGeometry.js";

/**
 * MaxPool3DGrad (native/src/MaxPool3DGrad.cc): tfjs passes {dy, input, output}; the winners are found again
 * from input, as the plain kernel does, so `output` is not read. Where window height and width differ the
 * plain tfjs 4.22 kernel is wrong (maxPool3dPositions numbers positions with the height as the row stride);
 * the native kernel gives the true gradient there, checked by finite differences in its test.
 */
export const maxPool3DGradConfig: NativeKernelConfig = {
  kernelName: tf.MaxPool3DGrad,
  make: (addon, fallback) => (args) => {
    const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.MaxPool3DGradAttrs;
    return runWindowKernel(
      tf.MaxPool3DGrad,
      fallback,
      args,
      ["dy", "input"],
      ({ dy, input }) => {
        if (input.shape.length !== 5) return null;
        const info = tf.backend_util.computePool3DInfo(
          input.shape as Shape5,
          filterSize,
          strides,
          1,
          pad,
          dimRoundingMode,
        );
        const geometry = poolGeometry(info);
        if (!geometry || !shapeIs(dy, info.outShape)) return null;
        return { geometry, outShape: [...input.shape] };
      },
      (v, dx, geometry) => addon.maxPool3dGrad(v.dy, v.input, dx, geometry),
    );
  },
};
