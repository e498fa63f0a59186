/**
 * Sliding-window inference over a whole channels-last volume, framework-free: the caller's `predict` turns
 * patches into class probabilities (tfjs, onnxruntime, a test stub), and this module only tiles, blends and
 * crops. Used by validation on the coordinator and by `orchestrate predict`.
 *
 *   const probs = await slidingWindowInference(volume, [X, Y, Z], 2, { window: [96, 96, 32], numClasses: 3, predict });
 *   const labels = argmaxLabels(probs, 3);
 *
 * Blending follows nnU-Net / MONAI: each window's probabilities are weighted by a Gaussian centred on the
 * window (sigma = 1/8 of the window per axis), because a U-Net is least reliable near a patch border where
 * it sees no context; the weighted sum is divided by the summed weights, so overlaps average out exactly.
 */

import type { Shape3 } from "./volume.js";

/**
 * Probabilities (channels-last, K per voxel) for `count` patches laid one after another, each patchShape X Y Z
 * with the volume's channels. With the default batch of 1, count is always 1.
 */
export type PredictFn = (patches: Float32Array, patchShape: Shape3, count: number) => Promise<Float32Array>;

export interface SlidingWindowOptions {
  /** Window X Y Z; capped per axis to the volume (rounded up to `multipleOf`). */
  window: Shape3;
  numClasses: number;
  predict: PredictFn;
  /** Fraction of the window shared by neighbouring windows, in [0, 1). Default 0.5. */
  overlap?: number;
  /** Patches handed to one `predict` call. Default 1. */
  batch?: number;
  /**
   * Each window side is a multiple of this (a U-Net with L levels needs 2^(L-1)); where the volume is smaller
   * than such a window it is padded with `padValue` and the result cropped back. Default 1.
   */
  multipleOf?: number;
  /** Value of padded voxels (after z-scoring, 0 is the mean intensity). Default 0. */
  padValue?: number;
  /** Gaussian sigma as a fraction of the window side. Default 1/8. */
  sigmaScale?: number;
  /** Called after each predict call with windows done and total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Returns probabilities [Z, Y, X, K] (index ((z*Y + y)*X + x)*K + k) for a volume [Z, Y, X, C] of the given
 * X Y Z shape and channel count.
 */
export async function slidingWindowInference(
  volume: Float32Array,
  shape: Shape3,
  channels: number,
  options: SlidingWindowOptions,
): Promise<Float32Array> {
  const { numClasses, predict } = options;
  const overlap = options.overlap ?? 0.5;
  const batch = options.batch ?? 1;
  const multipleOf = options.multipleOf ?? 1;
  checkArguments(volume, shape, channels, options, overlap, batch, multipleOf);

  const window = effectiveWindow(shape, options.window, multipleOf);
  const padded = padVolume(volume, shape, channels, window, options.padValue ?? 0);
  const starts = [0, 1, 2].map((axis) => windowStarts(padded.shape[axis], window[axis], overlap));
  const corners: Shape3[] = [];
  for (const z of starts[2]) for (const y of starts[1]) for (const x of starts[0]) corners.push([x, y, z]);

  const weights = gaussianImportance(window, options.sigmaScale ?? 1 / 8);
  const paddedVoxels = padded.shape[0] * padded.shape[1] * padded.shape[2];
  const probSum = new Float32Array(paddedVoxels * numClasses);
  const weightSum = new Float32Array(paddedVoxels);
  const patchVoxels = window[0] * window[1] * window[2];

  for (let first = 0; first < corners.length; first += batch) {
    const group = corners.slice(first, first + batch);
    const patches = new Float32Array(group.length * patchVoxels * channels);
    group.forEach((corner, i) => {
      copyWindow(padded.data, padded.shape, channels, corner, window, patches.subarray(i * patchVoxels * channels));
    });
    const probs = await predict(patches, [...window], group.length);
    if (probs.length !== group.length * patchVoxels * numClasses) {
      throw new Error(
        `slidingWindowInference: predict returned ${probs.length} values for ${group.length} patch(es) of ` +
          `${window.join("×")} with ${numClasses} classes (expected ${group.length * patchVoxels * numClasses})`,
      );
    }
    group.forEach((corner, i) => {
      const patchProbs = probs.subarray(i * patchVoxels * numClasses, (i + 1) * patchVoxels * numClasses);
      accumulate(probSum, weightSum, padded.shape, numClasses, corner, window, patchProbs, weights);
    });
    options.onProgress?.(first + group.length, corners.length);
  }

  normalise(probSum, weightSum, numClasses);
  return cropVolume(probSum, padded.shape, numClasses, padded.offset, shape);
}

/** Label map (index (z*Y + y)*X + x) of the most probable class of each voxel; ties go to the lower class. */
export function argmaxLabels(probs: Float32Array, numClasses: number): Uint8Array {
  if (numClasses < 1 || numClasses > 256 || probs.length % numClasses !== 0) {
    throw new Error(`argmaxLabels: ${probs.length} values do not split into ${numClasses} classes`);
  }
  const voxels = probs.length / numClasses;
  const labels = new Uint8Array(voxels);
  for (let v = 0, base = 0; v < voxels; v++, base += numClasses) {
    let best = 0;
    let bestValue = probs[base];
    for (let k = 1; k < numClasses; k++) {
      if (probs[base + k] > bestValue) {
        bestValue = probs[base + k];
        best = k;
      }
    }
    labels[v] = best;
  }
  return labels;
}

/** The window actually used: the requested one, but no larger than the volume rounded up to `multipleOf`. */
export function effectiveWindow(shape: Shape3, window: Shape3, multipleOf = 1): Shape3 {
  return [0, 1, 2].map((axis) => {
    const requested = Math.ceil(window[axis] / multipleOf) * multipleOf;
    return Math.min(requested, Math.ceil(shape[axis] / multipleOf) * multipleOf);
  }) as Shape3;
}

/**
 * Start offsets of the windows along one axis (MONAI's dense_patch_slices): a step of window·(1 − overlap),
 * the last window flush with the end so that every voxel is covered.
 */
export function windowStarts(size: number, window: number, overlap: number): number[] {
  if (window >= size) return [0];
  const step = Math.max(1, Math.floor(window * (1 - overlap)));
  const count = Math.ceil((size - window) / step) + 1;
  const starts: number[] = [];
  for (let i = 0; i < count; i++) starts.push(Math.min(i * step, size - window));
  return starts;
}

/**
 * Gaussian importance map of a window (index (z*Y + y)*X + x), peak 1. Like nnU-Net, the smallest weight is
 * kept well above zero so that voxels covered only by window corners still get a finite blend.
 */
export function gaussianImportance(window: Shape3, sigmaScale: number): Float32Array {
  const profiles = window.map((n) => {
    const sigma = Math.max(n * sigmaScale, 1e-6);
    const centre = (n - 1) / 2;
    return Float64Array.from({ length: n }, (_, i) => Math.exp(-((i - centre) ** 2) / (2 * sigma * sigma)));
  });
  const [wx, wy, wz] = profiles;
  const map = new Float32Array(window[0] * window[1] * window[2]);
  let i = 0;
  for (let z = 0; z < window[2]; z++) {
    for (let y = 0; y < window[1]; y++) {
      const zy = wz[z] * wy[y];
      for (let x = 0; x < window[0]; x++) map[i++] = zy * wx[x];
    }
  }
  const floor = 1e-3;
  for (let j = 0; j < map.length; j++) if (map[j] < floor) map[j] = floor;
  return map;
}

function checkArguments(
  volume: Float32Array,
  shape: Shape3,
  channels: number,
  options: SlidingWindowOptions,
  overlap: number,
  batch: number,
  multipleOf: number,
): void {
  const positive = (n: number) => Number.isInteger(n) && n > 0;
  if (!shape.every(positive) || !positive(channels)) {
    throw new Error(`slidingWindowInference: bad volume shape ${shape.join("×")} with ${channels} channels`);
  }
  if (volume.length !== shape[0] * shape[1] * shape[2] * channels) {
    throw new Error(
      `slidingWindowInference: volume has ${volume.length} values, shape ${shape.join("×")}×${channels} needs ` +
        `${shape[0] * shape[1] * shape[2] * channels}`,
    );
  }
  if (!options.window.every(positive)) {
    throw new Error(`slidingWindowInference: bad window ${options.window.join("×")}`);
  }
  if (!positive(options.numClasses) || !positive(batch) || !positive(multipleOf)) {
    throw new Error("slidingWindowInference: numClasses, batch and multipleOf must be positive integers");
  }
  if (!(overlap >= 0 && overlap < 1)) throw new Error(`slidingWindowInference: overlap ${overlap} not in [0, 1)`);
}

interface PaddedVolume {
  data: Float32Array;
  shape: Shape3;
  /** Where the original volume starts inside the padded one. */
  offset: Shape3;
}

/** Pads every axis shorter than the window symmetrically (as MONAI does), or returns the volume as it is. */
function padVolume(
  volume: Float32Array,
  shape: Shape3,
  channels: number,
  window: Shape3,
  padValue: number,
): PaddedVolume {
  const paddedShape = shape.map((n, axis) => Math.max(n, window[axis])) as Shape3;
  const offset = shape.map((n, axis) => Math.floor((paddedShape[axis] - n) / 2)) as Shape3;
  if (paddedShape.every((n, axis) => n === shape[axis])) return { data: volume, shape, offset };
  const [X, Y, Z] = shape;
  const [PX, PY] = paddedShape;
  const data = new Float32Array(paddedShape[0] * paddedShape[1] * paddedShape[2] * channels).fill(padValue);
  const row = X * channels;
  for (let z = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      const from = (z * Y + y) * row;
      const to = (((z + offset[2]) * PY + y + offset[1]) * PX + offset[0]) * channels;
      data.set(volume.subarray(from, from + row), to);
    }
  }
  return { data, shape: paddedShape, offset };
}

/** Copies one window of the volume into `out`, row by row (rows of X·C values are contiguous). */
function copyWindow(
  data: Float32Array,
  shape: Shape3,
  channels: number,
  corner: Shape3,
  window: Shape3,
  out: Float32Array,
): void {
  const [X, Y] = shape;
  const row = window[0] * channels;
  let to = 0;
  for (let z = 0; z < window[2]; z++) {
    for (let y = 0; y < window[1]; y++) {
      const from = (((corner[2] + z) * Y + corner[1] + y) * X + corner[0]) * channels;
      out.set(data.subarray(from, from + row), to);
      to += row;
    }
  }
}

function accumulate(
  probSum: Float32Array,
  weightSum: Float32Array,
  shape: Shape3,
  numClasses: number,
  corner: Shape3,
  window: Shape3,
  probs: Float32Array,
  weights: Float32Array,
): void {
  const [X, Y] = shape;
  let w = 0;
  for (let z = 0; z < window[2]; z++) {
    for (let y = 0; y < window[1]; y++) {
      let voxel = ((corner[2] + z) * Y + corner[1] + y) * X + corner[0];
      for (let x = 0; x < window[0]; x++, voxel++, w++) {
        const weight = weights[w];
        weightSum[voxel] += weight;
        const to = voxel * numClasses;
        const from = w * numClasses;
        for (let k = 0; k < numClasses; k++) probSum[to + k] += weight * probs[from + k];
      }
    }
  }
}

function normalise(probSum: Float32Array, weightSum: Float32Array, numClasses: number): void {
  for (let v = 0; v < weightSum.length; v++) {
    const inverse = 1 / weightSum[v];
    const base = v * numClasses;
    for (let k = 0; k < numClasses; k++) probSum[base + k] *= inverse;
  }
}

/** The `shape` part of a padded channels-last volume starting at `offset`; no copy when nothing was padded. */
function cropVolume(
  data: Float32Array,
  paddedShape: Shape3,
  channels: number,
  offset: Shape3,
  shape: Shape3,
): Float32Array {
  if (paddedShape.every((n, axis) => n === shape[axis])) return data;
  const [X, Y, Z] = shape;
  const [PX, PY] = paddedShape;
  const out = new Float32Array(X * Y * Z * channels);
  const row = X * channels;
  for (let z = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      const from = (((z + offset[2]) * PY + y + offset[1]) * PX + offset[0]) * channels;
      out.set(data.subarray(from, from + row), (z * Y + y) * row);
    }
  }
  return out;
}
