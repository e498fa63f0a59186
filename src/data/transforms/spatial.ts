import type { Affine } from "../nifti/affine.js";
import type { Shape3, Volume } from "../volume.js";
import type { Transform } from "./base.js";

/** Crops (and where the region leaves the volume, zero-pads) to [start, start + size): MONAI's SpatialCrop. */
export class SpatialCrop implements Transform<Volume> {
  readonly name = "SpatialCrop";

  constructor(
    readonly start: readonly number[],
    readonly size: Shape3,
  ) {}

  apply(volume: Volume): Volume {
    return extractRegion(volume, this.start, this.size);
  }
}

/**
 * The region [start, start + size) of a volume; parts outside the volume are filled with `padValue`, so
 * the same function crops, pads, or both. The affine moves its origin to the region's first voxel.
 */
export function extractRegion<T extends Float32Array | Uint8Array>(
  volume: Volume<T>,
  start: readonly number[],
  size: Shape3,
  padValue = 0,
): Volume<T> {
  const [X, Y, Z] = volume.shape;
  const C = volume.channels;
  const out = new (volume.data.constructor as new (n: number) => T)(size[0] * size[1] * size[2] * C);
  if (padValue !== 0) out.fill(padValue);
  const x0 = Math.max(0, -start[0]);
  const x1 = Math.min(size[0], X - start[0]);
  if (x1 > x0) {
    for (let z = 0; z < size[2]; z++) {
      const sz = start[2] + z;
      if (sz < 0 || sz >= Z) continue;
      for (let y = 0; y < size[1]; y++) {
        const sy = start[1] + y;
        if (sy < 0 || sy >= Y) continue;
        const src = ((sz * Y + sy) * X + start[0] + x0) * C;
        const dst = ((z * size[1] + y) * size[0] + x0) * C;
        out.set(volume.data.subarray(src, src + (x1 - x0) * C), dst);
      }
    }
  }
  return {
    data: out,
    shape: [...size],
    channels: C,
    spacing: volume.spacing,
    affine: translateAffine(volume.affine, start),
  };
}

/** The affine of a grid whose voxel 0 is voxel `offset` of this one. */
export function translateAffine(affine: Affine, offset: readonly number[]): Affine {
  return affine.map((row, i) =>
    i === 3
      ? [...row]
      : [row[0], row[1], row[2], row[3] + row[0] * offset[0] + row[1] * offset[1] + row[2] * offset[2]],
  );
}

/** The same volume with new data of the same size (for transforms that keep the grid). */
export function withData<T extends Float32Array | Uint8Array>(volume: Volume<T>, data: T): Volume<T> {
  return { ...volume, data };
}
