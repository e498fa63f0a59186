import * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../kernelConfig.js";
import { type CpuBackendLike, float32Values, runFallback, uninitializedFloat32 } from "./cpuTensors.js";

/** AddN, float32 tensors of one shape, added tile by tile (native/src/Add.cc). */
export const addNConfig: NativeKernelConfig = {
  kernelName: tf.AddN,
  make: (addon, fallback) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const inputs = Object.values(args.inputs) as tf.TensorInfo[];
    const values = inputs.map((t) => float32Values(backend, t));
    const shape = inputs[0]?.shape;
    const sameShape = shape !== undefined && inputs.every((t) => tf.util.arraysEqual(t.shape, shape));
    if (!sameShape || values.some((v) => v === null)) return runFallback(tf.AddN, fallback, args);
    const out = uninitializedFloat32(tf.util.sizeFromShape(shape));
    addon.addN(values as Float32Array[], out);
    return backend.makeTensorInfo(shape, "float32", out);
  },
};
