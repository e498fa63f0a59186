import type { Affine } from "./nifti/affine.js";

/** X Y Z: a volume's size in voxels, or a spacing in mm, always in that axis order. */
export type Shape3 = [number, number, number];

/**
 * A channels-last volume: element (x, y, z, c) sits at ((z·Y + y)·X + x)·C + c, which is exactly the
 * [Z, Y, X, C] (NDHWC without N) layout the trainer's tensors use. Images are float32; label maps are uint8
 * with one channel, on the same grid as their image.
 */
export interface Volume<T extends Float32Array | Uint8Array = Float32Array | Uint8Array> {
  data: T;
  shape: Shape3;
  channels: number;
  /** mm per voxel along X Y Z */
  spacing: Shape3;
  affine: Affine;
}

export type ImageVolume = Volume<Float32Array>;
export type LabelVolume = Volume<Uint8Array>;

export function voxelCount(shape: readonly number[]): number {
  return shape[0] * shape[1] * shape[2];
}

/**
 * Interleaves planar channels (NIfTI file order: all of channel 0, then channel 1, ...) into channels-last.
 */
export function planarToChannelsLast(planar: ArrayLike<number>, voxels: number, channels: number): Float32Array {
  const out = new Float32Array(voxels * channels);
  if (channels === 1) {
    out.set(planar);
    return out;
  }
  for (let c = 0; c < channels; c++) {
    const base = c * voxels;
    for (let v = 0, o = c; v < voxels; v++, o += channels) out[o] = planar[base + v];
  }
  return out;
}

/** The reverse of planarToChannelsLast, for writing channels-last data as a 4D NIfTI. */
export function channelsLastToPlanar(data: Float32Array, voxels: number, channels: number): Float32Array {
  if (channels === 1) return data.slice();
  const out = new Float32Array(voxels * channels);
  for (let c = 0; c < channels; c++) {
    const base = c * voxels;
    for (let v = 0, i = c; v < voxels; v++, i += channels) out[base + v] = data[i];
  }
  return out;
}
