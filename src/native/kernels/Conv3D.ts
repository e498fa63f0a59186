import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../kernelConfig.js";
import { convGeometry, runWindowKernel, type Shape5 } from "./convGeometry.js";

/** Conv3D forward on oneDNN (native/src/Conv3D.cc); dilated or NCDHW convolutions run the plain kernel. */
export const conv3DConfig: NativeKernelConfig = {
  kernelName: tf.Conv3D,
  make: (addon, fallback) => (args) => {
    const { strides, pad, dilations, dataFormat } = args.attrs as unknown as tf.Conv3DAttrs;
    return runWindowKernel(
      tf.Conv3D,
      fallback,
      args,
      ["x", "filter"],
      ({ x, filter }) => {
        if (dataFormat === "NCDHW" || x.shape.length !== 5 || filter.shape.length !== 5) return null;
        const info = tf.backend_util.computeConv3DInfo(
          x.shape as Shape5,
          filter.shape as Shape5,
          strides,
          dilations ?? 1,
          pad,
        );
        const geometry = convGeometry(info);
        if (!geometry || x.shape[4] !== filter.shape[3]) return null;
        return { geometry, outShape: info.outShape };
      },
      (v, y, geometry) => addon.conv3d(v.x, v.filter, y, geometry),
    );
  },
};
