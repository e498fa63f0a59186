import { scaleAffine } from "./nifti/affine.js";
import type { Shape3, Volume } from "./volume.js";

/**
 * Resampling between voxel grids that share voxel 0 (the same origin): output voxel i along an axis sits at
 * input coordinate i·step. Going to a coarser or finer spacing is step = newSpacing / oldSpacing; mapping a
 * result back onto the original grid is the reciprocal step. Samples never leave the input's extent, so no
 * padding value is ever invented.
 */

/** Output size along one axis: every sample lies inside the input extent [0, n−1]. */
export function resampledSize(n: number, step: number): number {
  return Math.floor((n - 1) / step + 1e-6) + 1;
}

/** Grid step and output shape for going from `spacing` to `target` spacing. */
export function spacingGrid(shape: Shape3, spacing: readonly number[], target: readonly number[]) {
  const step = [0, 1, 2].map((a) => target[a] / spacing[a]) as Shape3;
  const outShape = [0, 1, 2].map((a) => resampledSize(shape[a], step[a])) as Shape3;
  return { step, outShape };
}

/**
 * Separable trilinear resampling of channels-last data: one linear pass per axis, shrinking axes first so
 * the later passes touch fewer voxels. Each pass reads two input rows per output row in tight typed loops.
 */
export function resampleLinear(
  src: Float32Array,
  shape: Shape3,
  channels: number,
  outShape: Shape3,
  step: readonly number[],
): Float32Array {
  const order = [0, 1, 2].sort((a, b) => outShape[a] / shape[a] - outShape[b] / shape[b]);
  let data = src;
  const current: Shape3 = [...shape];
  for (const axis of order) {
    if (outShape[axis] === current[axis] && step[axis] === 1) continue;
    data = linearPass(data, current, channels, axis, outShape[axis], step[axis]);
    current[axis] = outShape[axis];
  }
  return data === src ? src.slice() : data;
}

function linearPass(
  src: Float32Array,
  shape: Shape3,
  channels: number,
  axis: number,
  nOut: number,
  step: number,
): Float32Array {
  const nIn = shape[axis];
  // Everything before `axis` (faster axes and channels) is one contiguous block per sample position.
  let block = channels;
  for (let a = 0; a < axis; a++) block *= shape[a];
  let outer = 1;
  for (let a = axis + 1; a < 3; a++) outer *= shape[a];
  const i0 = new Int32Array(nOut);
  const w = new Float32Array(nOut);
  for (let i = 0; i < nOut; i++) {
    const x = Math.min(Math.max(i * step, 0), nIn - 1);
    const f = Math.min(Math.floor(x), nIn - 2);
    i0[i] = Math.max(f, 0);
    w[i] = nIn === 1 ? 0 : x - i0[i];
  }
  const out = new Float32Array(outer * nOut * block);
  if (block <= 2) {
    linearPassNarrow(src, out, outer, nIn, nOut, block, i0, w);
    return out;
  }
  for (let o = 0; o < outer; o++) {
    const inBase = o * nIn * block;
    const outBase = o * nOut * block;
    for (let i = 0; i < nOut; i++) {
      const a = inBase + i0[i] * block;
      const dst = outBase + i * block;
      const wi = w[i];
      if (wi === 0) {
        out.set(src.subarray(a, a + block), dst);
        continue;
      }
      const b = a + block;
      const wa = 1 - wi;
      for (let k = 0; k < block; k++) out[dst + k] = src[a + k] * wa + src[b + k] * wi;
    }
  }
  return out;
}

/**
 * The x pass of channels-last data with one or two channels: the generic inner loop would run one or two
 * iterations per sample, so the channels are unrolled instead.
 */
function linearPassNarrow(
  src: Float32Array,
  out: Float32Array,
  outer: number,
  nIn: number,
  nOut: number,
  block: number,
  i0: Int32Array,
  w: Float32Array,
): void {
  const step = nIn > 1 ? block : 0;
  for (let o = 0; o < outer; o++) {
    const inBase = o * nIn * block;
    let d = o * nOut * block;
    if (block === 1) {
      for (let i = 0; i < nOut; i++, d++) {
        const a = inBase + i0[i];
        const wi = w[i];
        out[d] = src[a] + (src[a + step] - src[a]) * wi;
      }
    } else {
      for (let i = 0; i < nOut; i++, d += 2) {
        const a = inBase + i0[i] * 2;
        const wi = w[i];
        const a0 = src[a];
        const a1 = src[a + 1];
        out[d] = a0 + (src[a + step] - a0) * wi;
        out[d + 1] = a1 + (src[a + step + 1] - a1) * wi;
      }
    }
  }
}

/** Nearest-neighbour resampling (labels, masks), any element type, channels-last. */
export function resampleNearest<T extends Uint8Array | Float32Array | Int32Array>(
  src: T,
  shape: Shape3,
  outShape: Shape3,
  step: readonly number[],
  channels = 1,
): T {
  const index = (axis: number) => {
    const table = new Int32Array(outShape[axis]);
    for (let i = 0; i < table.length; i++)
      table[i] = Math.min(Math.max(Math.round(i * step[axis]), 0), shape[axis] - 1);
    return table;
  };
  const [xi, yi, zi] = [index(0), index(1), index(2)];
  const [X, Y] = shape;
  const out = new (src.constructor as new (n: number) => T)(outShape[0] * outShape[1] * outShape[2] * channels);
  let o = 0;
  for (let z = 0; z < outShape[2]; z++) {
    for (let y = 0; y < outShape[1]; y++) {
      const row = (zi[z] * Y + yi[y]) * X;
      for (let x = 0; x < outShape[0]; x++) {
        const s = (row + xi[x]) * channels;
        for (let c = 0; c < channels; c++) out[o++] = src[s + c];
      }
    }
  }
  return out;
}

/**
 * A volume at a new spacing, affine updated so world positions are unchanged: trilinear for images,
 * nearest neighbour for label maps (or when asked).
 */
export function resampleVolume<T extends Float32Array | Uint8Array>(
  volume: Volume<T>,
  target: readonly number[],
  mode: "linear" | "nearest" = volume.data instanceof Uint8Array ? "nearest" : "linear",
): Volume<T> {
  const { step, outShape } = spacingGrid(volume.shape, volume.spacing, target);
  const data =
    mode === "linear" && volume.data instanceof Float32Array
      ? resampleLinear(volume.data, volume.shape, volume.channels, outShape, step)
      : resampleNearest(volume.data, volume.shape, outShape, step, volume.channels);
  return {
    data: data as T,
    shape: outShape,
    channels: volume.channels,
    spacing: [...target] as Shape3,
    affine: scaleAffine(volume.affine, step),
  };
}

/**
 * Puts a label map computed on a resampled grid back onto the original grid (nearest neighbour): what
 * predict needs to return a mask in the input's own geometry. `resampledSpacing` and `originalSpacing` are
 * those of the two grids, which share voxel 0.
 */
export function labelsToOriginalGrid(
  labels: Uint8Array,
  resampledShape: Shape3,
  resampledSpacing: readonly number[],
  originalShape: Shape3,
  originalSpacing: readonly number[],
): Uint8Array {
  const step = [0, 1, 2].map((a) => originalSpacing[a] / resampledSpacing[a]);
  return resampleNearest(labels, resampledShape, originalShape, step);
}
