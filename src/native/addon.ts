import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The oneDNN addon built from native/ during `npm install`. Every function takes Float32Arrays that it
 * reads and writes in place; shapes are plain integer arrays. Kernel files add their own entries here. The
 * ring's arithmetic lives in the comm addon (commAddon.ts), which has none of this addon's side effects.
 */
export interface NativeAddon {
  dnnlVersion: string;
  /** Sets the OpenMP thread count; returns the count now in force. */
  setNumThreads(threads: number): number;
  /** out[b] = a[b] · b[b] for row-major m×k and k×n matrices. */
  matMul(a: Float32Array, b: Float32Array, out: Float32Array, batch: number, mkn: [number, number, number]): void;
  /**
   * Convolution and pooling kernels (native/src/Conv3D*.cc, MaxPool3D*.cc). `geometry` is the 21 integers of
   * src/native/kernels/convGeometry.ts; activations NDHWC, filters DHWIO; the third array is written.
   */
  conv3d(x: Float32Array, filter: Float32Array, y: Float32Array, geometry: number[]): void;
  conv3dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: number[]): void;
  conv3dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: number[]): void;
  maxPool3d(x: Float32Array, y: Float32Array, geometry: number[]): void;
  maxPool3dGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, geometry: number[]): void;
  /**
   * Activation-path kernels (native/src/VoxBatchNormRelu.cc, VoxSoftDiceLoss.cc, Concat.cc, Slice.cc, Add.cc,
   * Mul.cc, Sum.cc). Channels-last tensors are seen as rows × channels; outputs are the arrays written.
   */
  batchNormReluTrain(
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    rows: number,
    channels: number,
    epsilon: number,
    relu: boolean,
  ): void;
  batchNormReluGrad(
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    y: Float32Array,
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
    rows: number,
    channels: number,
    epsilon: number,
    relu: boolean,
  ): void;
  batchNormReluInfer(
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    y: Float32Array,
    rows: number,
    channels: number,
    epsilon: number,
    relu: boolean,
  ): void;
  /** Softmax into probs and the Dice sums into sums = [intersect(K), predSum(K), truthSum(K)]; returns the loss. */
  softDiceLoss(
    logits: Float32Array,
    labels: Int32Array,
    probs: Float32Array,
    sums: Float32Array,
    voxels: number,
    classes: number,
    smooth: number,
  ): number;
  softDiceLossGrad(
    dloss: number,
    probs: Float32Array,
    labels: Int32Array,
    sums: Float32Array,
    dlogits: Float32Array,
    voxels: number,
    classes: number,
    smooth: number,
  ): void;
  /** Tensors seen as outer × inner_i: each row of the whole is the parts' rows side by side (same element size). */
  concat(inputs: ArrayBufferView[], out: ArrayBufferView, outer: number): void;
  split(x: ArrayBufferView, outputs: ArrayBufferView[], outer: number): void;
  slice(x: ArrayBufferView, out: ArrayBufferView, shape: number[], begin: number[], size: number[]): void;
  /** out[i] = a[i mod na] ∘ b[i mod nb]; the shorter length must divide the longer. */
  add(a: Float32Array, b: Float32Array, out: Float32Array): void;
  mul(a: Float32Array, b: Float32Array, out: Float32Array): void;
  addN(inputs: Float32Array[], out: Float32Array): void;
  /** x as [outer, reduced, inner] summed over the middle axis into out [outer, inner]. */
  sum(x: Float32Array, out: Float32Array, dims: [number, number, number]): void;
}

const here = dirname(fileURLToPath(import.meta.url));
let cached: NativeAddon | null | undefined;

/**
 * Where native/build put `file`: walks up from this file to the package root (works from src/ under vitest
 * and from dist/).
 */
export function addonPath(file: string): string | null {
  let dir = here;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "native", "build", "Release", file);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return null;
}

/**
 * Loads the addon once. Returns null (after one warning) when it was not built or cannot load, or when
 * VOXRING_NATIVE=0 asks for plain tfjs kernels.
 */
export function loadNative(): NativeAddon | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (process.env.VOXRING_NATIVE === "0") return cached;
  const path = addonPath("voxring_native.node");
  if (!path) {
    process.emitWarning(
      "voxring: native oneDNN addon not built (apt-get install libdnnl-dev; npm rebuild); using plain tfjs kernels",
    );
    return cached;
  }
  // Read by libgomp once, when the addon loads it. Idle OpenMP threads that spin steal the core their team
  // mates need whenever the machine runs more threads than cores (several workers, other jobs): measured on
  // a busy 2-core machine, conv3d 16→16 at 32³ ran 2× faster and a bench U-Net step 10–30% faster with
  // passive waiting. Waking a sleeping thread costs microseconds, nothing next to a millisecond kernel.
  process.env.OMP_WAIT_POLICY ??= "passive";
  try {
    cached = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (error) {
    process.emitWarning(
      `voxring: native addon ${path} failed to load (${(error as Error).message}); using plain tfjs kernels`,
    );
  }
  return cached;
}
