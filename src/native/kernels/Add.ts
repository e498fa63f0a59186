import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../kernelConfig.js";
import { broadcastBinaryKernel } from "./broadcast.js";

/** Add, float32, same shape or a trailing broadcast (native/src/Add.cc): gradient accumulation on skips. */
export const addConfig: NativeKernelConfig = {
  kernelName: tf.Add,
  make: broadcastBinaryKernel(tf.Add, (addon, a, b, out) => addon.add(a, b, out)),
};
