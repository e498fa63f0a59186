import * as tf from "@tensorflow/tfjs";

/**
 * The gradient tfjs lacks for Conv3DBackpropInputV2, the kernel behind `tf.conv3dTranspose`
 * (tensorflow/tfjs#6323): without it a U-Net decoder cannot train on any backend. It mirrors tfjs's own
 * Conv2DBackpropInput gradient. The transposed conv maps x (in the role of a conv's output gradient `dy`)
 * to y (in the role of the conv's input), so for an upstream gradient `ddx` of y:
 *   d/d dy     = conv3d(ddx, filter)                       (the forward conv),
 *   d/d filter = conv3DBackpropFilter(x = ddx, dy = dy).
 * Registered once, on import; gradients are global in tfjs, not per backend.
 */

const KERNEL = "Conv3DBackpropInputV2";

interface Conv3DBackpropInputAttrs {
  strides: [number, number, number] | number;
  pad: "valid" | "same";
}

if (!tf.getGradient(KERNEL)) {
  tf.registerGradient({
    kernelName: KERNEL,
    inputsToSave: ["dy", "filter"],
    gradFunc: (ddx, saved, attrs) => {
      const [dy, filter] = saved as [tf.Tensor5D, tf.Tensor5D];
      const { strides, pad } = attrs as unknown as Conv3DBackpropInputAttrs;
      const upstream = ddx as tf.Tensor5D;
      return {
        dy: () => tf.conv3d(upstream, filter, strides, pad, "NDHWC"),
        filter: () =>
          tf
            .engine()
            .runKernel("Conv3DBackpropFilterV2", { x: upstream, dy }, { strides, pad, filterShape: filter.shape }),
      };
    },
  });
}

/** Importing this module is what registers the gradient; this constant makes the import explicit. */
export const conv3dTransposeGradRegistered = true;
