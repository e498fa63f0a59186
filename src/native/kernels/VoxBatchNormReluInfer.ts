import type { NativeKernelConfig } from "../kernelConfig.js";
import { type BatchNormReluAttrs, VoxKernel } from "../kernelNames.js";
import { type CpuBackendLike, type KernelInputs, requireFloat32 } from "./cpuTensors.js";
import { rowsAndChannels } from "./VoxBatchNormReluTrain.js";

/** VoxBatchNormReluInfer: {x, gamma, beta, mean, variance} → [y], from given (running) statistics. */
export const voxBatchNormReluInferConfig: NativeKernelConfig = {
  kernelName: VoxKernel.BatchNormReluInfer,
  make: (addon) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const inputs = args.inputs as KernelInputs<"x" | "gamma" | "beta" | "mean" | "variance">;
    const { epsilon, relu } = args.attrs as unknown as BatchNormReluAttrs;
    const { rows, channels } = rowsAndChannels(inputs.x.shape);
    const values = (name: keyof typeof inputs) =>
      requireFloat32(backend, inputs[name], `VoxBatchNormReluInfer: ${name}`);
    const y = new Float32Array(rows * channels);
    addon.batchNormReluInfer(
      values("x"),
      values("gamma"),
      values("beta"),
      values("mean"),
      values("variance"),
      y,
      rows,
      channels,
      epsilon,
      relu,
    );
    return backend.makeTensorInfo(inputs.x.shape, "float32", y);
  },
};
