import type { Shape3, Volume } from "../volume.js";
import { mapKeys, requireOption, type Sample, type Transform, transformError, volumeAt } from "./base.js";
import { extractRegion } from "./spatial.js";

export interface CropForegroundOptions {
  /** Voxels added around the foreground box on every side (clamped to the volume). Default 0. */
  margin?: number;
}

/** Bounding box [start, size] of voxels where any channel is > 0, or null when there are none. */
export function foregroundBox(volume: Volume, margin = 0): { start: Shape3; size: Shape3 } | null {
  const [X, Y, Z] = volume.shape;
  const C = volume.channels;
  const lo = [X, Y, Z];
  const hi = [-1, -1, -1];
  const d = volume.data;
  let i = 0;
  for (let z = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      for (let x = 0; x < X; x++) {
        let any = false;
        for (let c = 0; c < C; c++, i++) if (d[i] > 0) any = true;
        if (!any) continue;
        if (x < lo[0]) lo[0] = x;
        if (x > hi[0]) hi[0] = x;
        if (y < lo[1]) lo[1] = y;
        if (y > hi[1]) hi[1] = y;
        if (z < lo[2]) lo[2] = z;
        if (z > hi[2]) hi[2] = z;
      }
    }
  }
  if (hi[0] < 0) return null;
  const start = lo.map((l) => Math.max(0, l - margin)) as Shape3;
  const end = hi.map((h, a) => Math.min(volume.shape[a], h + 1 + margin));
  return { start, size: end.map((e, a) => e - start[a]) as Shape3 };
}

/**
 * Crops to the box around foreground (any channel > 0), as MONAI's CropForeground: MRI volumes carry wide
 * empty borders that cost resampling and patch sampling time but hold nothing to learn. Nothing to crop
 * around leaves the volume as it is.
 */
export class CropForeground implements Transform<Volume> {
  readonly name = "CropForeground";

  constructor(readonly options: CropForegroundOptions = {}) {
    requireOption(this.name, (options.margin ?? 0) >= 0, "margin must be >= 0");
  }

  apply(volume: Volume): Volume {
    const box = foregroundBox(volume, this.options.margin ?? 0);
    return box ? extractRegion(volume, box.start, box.size) : volume;
  }
}

/** Crops every key to the foreground box of `sourceKey` (all keys must share its grid). */
export class CropForegroundd implements Transform<Sample> {
  readonly name = "CropForegroundd";

  constructor(readonly options: CropForegroundOptions & { keys: readonly string[]; sourceKey: string }) {}

  apply(sample: Sample): Sample {
    const source = volumeAt(sample, this.options.sourceKey, this.name);
    const box = foregroundBox(source, this.options.margin ?? 0);
    if (!box) return sample;
    return mapKeys(sample, this.options.keys, this.name, (v, key) => {
      if (v.shape.some((n, a) => n !== source.shape[a])) {
        throw transformError(
          this.name,
          `shape ${v.shape.join("×")} differs from ${this.options.sourceKey}'s ${source.shape.join("×")}`,
          key,
        );
      }
      return extractRegion(v, box.start, box.size);
    });
  }
}
