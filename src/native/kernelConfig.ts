import type * as tf from "@tensorflow/tfjs";
import type { NativeAddon } from "./addon.js";

/**
 * A native kernel for the tfjs cpu backend: pure data, as tfjs-backend-cpu's own KernelConfigs are.
 * `make` receives the loaded addon and the cpu backend's own kernel of that name (undefined for voxring's own
 * kernels), which the native kernel calls for the cases it does not handle (other dtypes, broadcasting, ...).
 */
export interface NativeKernelConfig {
  kernelName: string;
  make: (addon: NativeAddon, fallback: tf.KernelFunc | undefined) => tf.KernelFunc;
}
