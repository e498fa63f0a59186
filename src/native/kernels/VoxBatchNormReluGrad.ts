import type { NativeKernelConfig } from "../kernelConfig.js";
import { type BatchNormReluAttrs, VoxKernel } from "../kernelNames.js";
import { type CpuBackendLike, type KernelInputs, requireFloat32, uninitializedFloat32 } from "./cpuTensors.js";
import { rowsAndChannels } from "./VoxBatchNormReluTrain.js";

/**
 * VoxBatchNormReluGrad: {dy, x, gamma, mean, variance, y} → [dx, dgamma [C], dbeta [C]], the ReLU mask read
 * from y > 0; two passes (per-channel sums, then dx) in native/src/VoxBatchNormRelu.cc.
 */
export const voxBatchNormReluGradConfig: NativeKernelConfig = {
  kernelName: VoxKernel.BatchNormReluGrad,
  make: (addon) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const inputs = args.inputs as KernelInputs<"dy" | "x" | "gamma" | "mean" | "variance" | "y">;
    const { epsilon, relu } = args.attrs as unknown as BatchNormReluAttrs;
    const { rows, channels } = rowsAndChannels(inputs.x.shape);
    const values = (name: keyof typeof inputs) =>
      requireFloat32(backend, inputs[name], `VoxBatchNormReluGrad: ${name}`);
    const dx = uninitializedFloat32(rows * channels);
    const dgamma = new Float32Array(channels);
    const dbeta = new Float32Array(channels);
    addon.batchNormReluGrad(
      values("dy"),
      values("x"),
      values("gamma"),
      values("mean"),
      values("variance"),
      values("y"),
      dx,
      dgamma,
      dbeta,
      rows,
      channels,
      epsilon,
      relu,
    );
    return [
      backend.makeTensorInfo(inputs.x.shape, "float32", dx),
      backend.makeTensorInfo([channels], "float32", dgamma),
      backend.makeTensorInfo([channels], "float32", dbeta),
    ];
  },
};
