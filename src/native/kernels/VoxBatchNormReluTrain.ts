import type { NativeKernelConfig } from "../kernelConfig.js";
import { type BatchNormReluAttrs, VoxKernel } from "../kernelNames.js";
import { type CpuBackendLike, type KernelInputs, requireFloat32, uninitializedFloat32 } from "./cpuTensors.js";

/** Channels-last x seen as rows × channels, the shape every VoxBatchNormRelu* kernel works on. */
export function rowsAndChannels(shape: number[]): { rows: number; channels: number } {
  const channels = shape[shape.length - 1] ?? 1;
  const size = shape.reduce((a, b) => a * b, 1);
  return { rows: channels === 0 ? 0 : size / channels, channels };
}

/**
 * VoxBatchNormReluTrain: {x [N,D,H,W,C], gamma [C], beta [C]} → [y, mean [C], variance [C] (biased)],
 * statistics over N·D·H·W and normalisation in native/src/VoxBatchNormRelu.cc.
 */
export const voxBatchNormReluTrainConfig: NativeKernelConfig = {
  kernelName: VoxKernel.BatchNormReluTrain,
  make: (addon) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const { x, gamma, beta } = args.inputs as KernelInputs<"x" | "gamma" | "beta">;
    const { epsilon, relu } = args.attrs as unknown as BatchNormReluAttrs;
    const { rows, channels } = rowsAndChannels(x.shape);
    const y = uninitializedFloat32(rows * channels);
    const mean = new Float32Array(channels);
    const variance = new Float32Array(channels);
    addon.batchNormReluTrain(
      requireFloat32(backend, x, "VoxBatchNormReluTrain: x"),
      requireFloat32(backend, gamma, "VoxBatchNormReluTrain: gamma"),
      requireFloat32(backend, beta, "VoxBatchNormReluTrain: beta"),
      y,
      mean,
      variance,
      rows,
      channels,
      epsilon,
      relu,
    );
    return [
      backend.makeTensorInfo(x.shape, "float32", y),
      backend.makeTensorInfo([channels], "float32", mean),
      backend.makeTensorInfo([channels], "float32", variance),
    ];
  },
};
