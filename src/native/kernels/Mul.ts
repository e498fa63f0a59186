import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../kernelConfig.js";
import { broadcastBinaryKernel } from "./broadcast.js";

/** Mul, float32, same shape or a trailing broadcast (native/src/Mul.cc): loss scaling, masks. */
export const mulConfig: NativeKernelConfig = {
  kernelName: tf.Multiply,
  make: broadcastBinaryKernel(tf.Multiply, (addon, a, b, out) => addon.mul(a, b, out)),
};
