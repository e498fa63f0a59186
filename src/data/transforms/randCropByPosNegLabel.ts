import type { Shape3, Volume } from "../volume.js";
import {
  mapKeys,
  RandomizableTransform,
  requireOption,
  type Sample,
  type Transform,
  transformError,
  volumeAt,
} from "./base.js";
import { SpatialCrop } from "./spatial.js";

export interface RandCropByPosNegLabeldOptions {
  keys: readonly string[];
  labelKey: string;
  /** Patch X Y Z. Default 96 96 32. */
  spatialSize?: Shape3;
  /** Relative weights of foreground- and background-centred patches. Default 1 and 1. */
  pos?: number;
  neg?: number;
}

/** Foreground voxel indices of a label map, computed once per map (label maps are never mutated). */
const foregroundCache = new WeakMap<Uint8Array, Int32Array>();

function foregroundIndices(labels: Uint8Array): Int32Array {
  let fg = foregroundCache.get(labels);
  if (!fg) {
    let n = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] !== 0) n++;
    fg = new Int32Array(n);
    for (let i = 0, k = 0; i < labels.length; i++) if (labels[i] !== 0) fg[k++] = i;
    foregroundCache.set(labels, fg);
  }
  return fg;
}

/**
 * A fixed-size patch centred on a foreground voxel (label > 0) or a background voxel, at odds pos : neg
 * (MONAI's RandCropByPosNegLabeld). The patch is shifted to stay inside the volume; where the volume is
 * smaller than the patch it is centred and padded with zeros. The same crop is applied to every key.
 */
export class RandCropByPosNegLabeld extends RandomizableTransform implements Transform<Sample> {
  readonly name = "RandCropByPosNegLabeld";
  readonly size: Shape3;
  /** Start of the last drawn patch (voxel coordinates, may be negative where padded). */
  start: Shape3 = [0, 0, 0];
  /** Whether the last patch was centred on foreground. */
  foreground = false;

  constructor(readonly options: RandCropByPosNegLabeldOptions) {
    super();
    this.size = [...(options.spatialSize ?? [96, 96, 32])];
    const pos = options.pos ?? 1;
    const neg = options.neg ?? 1;
    requireOption(
      this.name,
      this.size.every((n) => Number.isInteger(n) && n > 0),
      `spatialSize must be 3 positive integers`,
    );
    requireOption(this.name, pos >= 0 && neg >= 0 && pos + neg > 0, "pos and neg must be >= 0, not both 0");
  }

  randomize(label: Volume): void {
    if (!(label.data instanceof Uint8Array))
      throw transformError(this.name, "label must be a uint8 label map", this.options.labelKey);
    const pos = this.options.pos ?? 1;
    const neg = this.options.neg ?? 1;
    const fg = foregroundIndices(label.data);
    const bgCount = label.data.length - fg.length;
    let wantForeground = this.rng.next() < pos / (pos + neg);
    if (fg.length === 0) wantForeground = false;
    if (bgCount === 0) wantForeground = true;
    const centre = wantForeground ? fg[this.rng.int(fg.length)] : this.backgroundVoxel(label.data, bgCount);
    this.foreground = wantForeground;
    const [X, Y] = label.shape;
    const c = [centre % X, Math.floor(centre / X) % Y, Math.floor(centre / (X * Y))];
    this.start = [0, 1, 2].map((a) => {
      const n = label.shape[a];
      const s = this.size[a];
      if (n <= s) return -Math.floor((s - n) / 2);
      return Math.min(Math.max(c[a] - Math.floor(s / 2), 0), n - s);
    }) as Shape3;
  }

  /** Background is usually most of the volume: rejection sampling beats an index list of millions. */
  private backgroundVoxel(labels: Uint8Array, bgCount: number): number {
    for (let tries = 0; tries < 64; tries++) {
      const i = this.rng.int(labels.length);
      if (labels[i] === 0) return i;
    }
    let k = this.rng.int(bgCount);
    for (let i = 0; i < labels.length; i++) if (labels[i] === 0 && k-- === 0) return i;
    return 0;
  }

  apply(sample: Sample): Sample {
    const label = volumeAt(sample, this.options.labelKey, this.name);
    this.randomize(label);
    const crop = new SpatialCrop(this.start, this.size);
    return mapKeys(sample, this.options.keys, this.name, (v, key) => {
      if (v.shape.some((n, a) => n !== label.shape[a])) {
        throw transformError(
          this.name,
          `shape ${v.shape.join("×")} differs from the label's ${label.shape.join("×")}`,
          key,
        );
      }
      return crop.apply(v);
    });
  }
}
