import * as tf from "@tensorflow/tfjs";
import {
  type CpuBackendLike,
  float32Values,
  type KernelInputs,
  runFallback,
  uninitializedFloat32,
} from "./cpuTensors.js";

type Conv3DInfo = tf.backend_util.Conv3DInfo;

/** A rank-5 shape as tfjs's conv and pool helpers type it. */
export type Shape5 = [number, number, number, number, number];

/**
 * The 21 integers the native convolution and pooling kernels read (native/src/conv_common.h ConvGeometry,
 * same order): input N D H W C, output D H W C, window D H W, strides D H W, padding before D H W, padding
 * after D H W. Null when the native kernels do not handle the case (dilation, NCDHW, empty or fractional
 * shapes): the caller then runs the plain tfjs kernel.
 */
function geometryOf(info: Conv3DInfo): number[] | null {
  if (info.dataFormat !== "channelsLast") return null;
  if (info.dilationDepth !== 1 || info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  const p = info.padInfo;
  const geometry = [
    ...[info.batchSize, info.inDepth, info.inHeight, info.inWidth, info.inChannels],
    ...[info.outDepth, info.outHeight, info.outWidth, info.outChannels],
    ...[info.filterDepth, info.filterHeight, info.filterWidth],
    ...[info.strideDepth, info.strideHeight, info.strideWidth],
    ...[p.front, p.top, p.left, p.back, p.bottom, p.right],
  ];
  if (!geometry.every((v) => Number.isInteger(v) && v >= 0)) return null;
  return geometry.slice(0, 15).every((v) => v > 0) ? geometry : null;
}

/** Geometry of a convolution, also when oneDNN can express its padding (else null). */
export function convGeometry(info: Conv3DInfo): number[] | null {
  const g = geometryOf(info);
  if (!g) return null;
  // oneDNN accepts a convolution only when out = trunc((in + before + after − window) / stride) + 1 per axis.
  for (let axis = 0; axis < 3; axis++) {
    const span = g[1 + axis] + g[15 + axis] + g[18 + axis] - g[9 + axis];
    if (span < 0 || Math.trunc(span / g[12 + axis]) + 1 !== g[5 + axis]) return null;
  }
  return g;
}

/** Geometry of a max pooling; windows are clipped to the input natively, so any padding goes. */
export function poolGeometry(info: Conv3DInfo): number[] | null {
  return info.inChannels === info.outChannels ? geometryOf(info) : null;
}

/** True when a tensor's shape is exactly `expected` (inputs that disagree with the attrs go to the plain kernel). */
export function shapeIs(tensor: tf.TensorInfo, expected: readonly number[]): boolean {
  return tensor.shape.length === expected.length && tensor.shape.every((d, i) => d === expected[i]);
}

/** What a conv or pool kernel runs natively: its geometry and the shape of the one tensor it writes. */
export interface WindowPlan {
  geometry: number[];
  outShape: number[];
}

/**
 * The part every conv and pool kernel shares: the named inputs' Float32Arrays (any input that is not a float32
 * tensor of the cpu backend sends the call to the plain kernel), the case the native kernel handles (`plan`,
 * null for the plain kernel; it runs only once every input is float32), and one output tensor that `run`
 * writes in full.
 */
export function runWindowKernel<Name extends string>(
  kernelName: string,
  fallback: tf.KernelFunc | undefined,
  args: Parameters<tf.KernelFunc>[0],
  names: readonly Name[],
  plan: (inputs: KernelInputs<Name>) => WindowPlan | null,
  run: (values: Record<Name, Float32Array>, out: Float32Array, geometry: number[]) => void,
): ReturnType<tf.KernelFunc> {
  const backend = args.backend as CpuBackendLike;
  const inputs = args.inputs as KernelInputs<Name>;
  const values = {} as Record<Name, Float32Array>;
  for (const name of names) {
    const v = float32Values(backend, inputs[name]);
    if (!v) return runFallback(kernelName, fallback, args);
    values[name] = v;
  }
  const native = plan(inputs);
  if (!native) return runFallback(kernelName, fallback, args);
  const out = uninitializedFloat32(tf.util.sizeFromShape(native.outShape));
  run(values, out, native.geometry);
  return backend.makeTensorInfo(native.outShape, "float32", out);
}
