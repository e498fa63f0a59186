import * as tf from "@tensorflow/tfjs";
import type { NativeAddon } from "./addon.js";
import type { NativeKernelConfig } from "./kernelConfig.js";
import { addConfig } from "./kernels/Add.js";
import { addNConfig } from "./kernels/AddN.js";
import { concatConfig } from "./kernels/Concat.js";
import { conv3DConfig } from "./kernels/Conv3D.js";
import { conv3DBackpropFilterV2Config } from "./kernels/Conv3DBackpropFilterV2.js";
import { conv3DBackpropInputV2Config } from "./kernels/Conv3DBackpropInputV2.js";
import { maxPool3DConfig } from "./kernels/MaxPool3D.js";
import { maxPool3DGradConfig } from "./kernels/MaxPool3DGrad.js";
import { mulConfig } from "./kernels/Mul.js";
import { sliceConfig } from "./kernels/Slice.js";
import { splitVConfig } from "./kernels/SplitV.js";
import { sumConfig } from "./kernels/Sum.js";
import { voxBatchNormReluGradConfig } from "./kernels/VoxBatchNormReluGrad.js";
import { voxBatchNormReluInferConfig } from "./kernels/VoxBatchNormReluInfer.js";
import { voxBatchNormReluTrainConfig } from "./kernels/VoxBatchNormReluTrain.js";
import { voxSoftDiceLossConfig } from "./kernels/VoxSoftDiceLoss.js";
import { voxSoftDiceLossGradConfig } from "./kernels/VoxSoftDiceLossGrad.js";

/** Every native kernel, one file each in ./kernels (explicit list, as tfjs-backend-cpu's register_all_kernels). */
const nativeKernelConfigs: NativeKernelConfig[] = [
  conv3DConfig,
  conv3DBackpropInputV2Config,
  conv3DBackpropFilterV2Config,
  maxPool3DConfig,
  maxPool3DGradConfig,
  voxBatchNormReluTrainConfig,
  voxBatchNormReluGradConfig,
  voxBatchNormReluInferConfig,
  voxSoftDiceLossConfig,
  voxSoftDiceLossGradConfig,
  concatConfig,
  splitVConfig,
  sliceConfig,
  addConfig,
  addNConfig,
  mulConfig,
  sumConfig,
];

/**
 * The cpu backend's own kernels, captured the first time a name is replaced, so that registering twice never
 * makes a native kernel its own fallback.
 */
const plainKernels = new Map<string, tf.KernelFunc | undefined>();

/**
 * Registers every native kernel over the cpu backend. tfjs only warns when a kernel name is registered twice
 * and keeps the old one, so the plain kernel is unregistered first. Returns the names registered.
 */
export function registerNativeKernels(addon: NativeAddon): string[] {
  const names: string[] = [];
  for (const config of nativeKernelConfigs) {
    const current = tf.getKernel(config.kernelName, "cpu");
    if (!plainKernels.has(config.kernelName)) plainKernels.set(config.kernelName, current?.kernelFunc);
    if (current) tf.unregisterKernel(config.kernelName, "cpu");
    const kernelFunc = config.make(addon, plainKernels.get(config.kernelName));
    tf.registerKernel({ kernelName: config.kernelName, backendName: "cpu", kernelFunc });
    names.push(config.kernelName);
  }
  return names;
}

/** Puts the cpu backend's own kernels back (voxring's own kernel names disappear): tests compare against them. */
export function unregisterNativeKernels(): void {
  for (const [kernelName, plain] of plainKernels) {
    if (tf.getKernel(kernelName, "cpu")) tf.unregisterKernel(kernelName, "cpu");
    if (plain) tf.registerKernel({ kernelName, backendName: "cpu", kernelFunc: plain });
  }
}
