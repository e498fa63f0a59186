import * as tf from "@tensorflow/tfjs";
import { stepOutputs } from "./stepOutputs.js";

/**
 * The slice of tfjs's cpu backend (MathBackendCPU) a native kernel touches: its tensors' backing arrays, and
 * wrapping an array we filled as a new tensor. Typed structurally so src/ need not import the backend package.
 */
export interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array | Int32Array | Uint8Array): tf.TensorInfo;
}

/** A kernel's named inputs, all present (tfjs's own *Inputs types mark every entry optional). */
export type KernelInputs<Name extends string> = Record<Name, tf.TensorInfo>;

/**
 * The Float32Array backing a float32 tensor of the cpu backend, handed to the addon without a copy; null
 * when the tensor is of another dtype or not held as a Float32Array (the caller then falls back).
 */
export function float32Values(backend: CpuBackendLike, tensor: tf.TensorInfo): Float32Array | null {
  if (tensor.dtype !== "float32") return null;
  const values = backend.data.get(tensor.dataId)?.values;
  return values instanceof Float32Array ? values : null;
}

/** float32Values for kernels with no plain fallback (voxring's own Vox* kernels): anything else is a bug. */
export function requireFloat32(backend: CpuBackendLike, tensor: tf.TensorInfo, where: string): Float32Array {
  const values = float32Values(backend, tensor);
  if (!values) throw new Error(`${where} must be a float32 tensor of the cpu backend, got ${tensor.dtype}`);
  return values;
}

/**
 * A Float32Array for a kernel output that the native code writes in full: uninitialised, and during a
 * training step one of the previous step's (stepOutputs.ts says why and when that is safe).
 */
export function uninitializedFloat32(size: number): Float32Array {
  return stepOutputs.float32(size);
}

/** Calls the plain kernel for a case the native one does not handle; a native kernel always has one. */
export function runFallback(
  kernelName: string,
  fallback: tf.KernelFunc | undefined,
  args: Parameters<tf.KernelFunc>[0],
): ReturnType<tf.KernelFunc> {
  if (!fallback) throw new Error(`${kernelName}: case not handled natively and no plain tfjs kernel to fall back to`);
  return fallback(args);
}

/** The Int32Array backing an int32 tensor of the cpu backend (labels, for instance); null otherwise. */
export function int32Values(backend: CpuBackendLike, tensor: tf.TensorInfo): Int32Array | null {
  if (tensor.dtype !== "int32") return null;
  const values = backend.data.get(tensor.dataId)?.values;
  return values instanceof Int32Array ? values : null;
}

/**
 * The typed array backing a numeric or bool tensor (copy kernels move its bytes whatever the dtype); null for
 * string and complex tensors, which the cpu backend does not hold as one typed array.
 */
export function typedValues(
  backend: CpuBackendLike,
  tensor: tf.TensorInfo,
): Float32Array | Int32Array | Uint8Array | null {
  if (tensor.dtype === "string" || tensor.dtype === "complex64") return null;
  const values = backend.data.get(tensor.dataId)?.values;
  return values instanceof Float32Array || values instanceof Int32Array || values instanceof Uint8Array ? values : null;
}

/**
 * A typed array of the cpu backend's storage type for a numeric or bool dtype, for an output the caller
 * writes in full (float32 ones uninitialised, as uninitializedFloat32).
 */
export function allocateValues(dtype: tf.DataType, length: number): Float32Array | Int32Array | Uint8Array {
  if (dtype === "int32") return new Int32Array(length);
  if (dtype === "bool") return new Uint8Array(length);
  return uninitializedFloat32(length);
}

/** The buffers behind every registered variable on the cpu backend: what a training step may have assigned them. */
export function variableBuffers(): ArrayBufferLike[] {
  const engine = tf.engine();
  if (tf.getBackend() !== "cpu") return [];
  const backend = engine.backend as unknown as CpuBackendLike;
  const buffers: ArrayBufferLike[] = [];
  for (const variable of Object.values(engine.state.registeredVariables)) {
    const values = typedValues(backend, variable);
    if (values) buffers.push(values.buffer);
  }
  return buffers;
}
