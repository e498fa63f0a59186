import * as tf from "@tensorflow/tfjs";
import type { NativeAddon } from "./addon.js";

/**
 * A native kernel for the tfjs cpu backend: pure data, as tfjs-backend-cpu's own KernelConfigs are.
 * `make` receives the loaded addon and returns the tfjs kernel function.
 */
export interface NativeKernelConfig {
  kernelName: string;
  make: (addon: NativeAddon) => tf.KernelFunc;
}

/** Every native kernel, one file each in ./kernels (explicit list, as tfjs-backend-cpu's register_all_kernels). */
const nativeKernelConfigs: NativeKernelConfig[] = [];

/**
 * Registers every native kernel over the cpu backend. tfjs only warns when a kernel name is registered twice
 * and keeps the old one, so the plain kernel is unregistered first. Returns the names registered.
 */
export function registerNativeKernels(addon: NativeAddon): string[] {
  const names: string[] = [];
  for (const config of nativeKernelConfigs) {
    if (tf.getKernel(config.kernelName, "cpu")) tf.unregisterKernel(config.kernelName, "cpu");
    tf.registerKernel({ kernelName: config.kernelName, backendName: "cpu", kernelFunc: config.make(addon) });
    names.push(config.kernelName);
  }
  return names;
}
