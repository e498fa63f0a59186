import type { Volume } from "../volume.js";
import { mapKeys, RandomizableTransform, requireOption, type Sample, type Transform } from "./base.js";
import type { InterpolationMode } from "./spacing.js";
import { withData } from "./spatial.js";

/**
 * Rotates in-plane (about the z axis through the volume centre) by `angle` radians, keeping the shape.
 * Samples that fall outside are taken from the nearest border voxel, so a rotated patch has no artificial
 * zero corners for the network to learn. Linear for images, nearest for label maps (by default).
 */
export class Rotate implements Transform<Volume> {
  readonly name = "Rotate";

  constructor(
    readonly angle: number,
    readonly mode?: InterpolationMode,
  ) {
    requireOption(this.name, Number.isFinite(angle), `angle must be finite, got ${angle}`);
  }

  apply(volume: Volume): Volume {
    if (this.angle === 0) return volume;
    const mode = this.mode ?? (volume.data instanceof Uint8Array ? "nearest" : "linear");
    return withData(volume, rotateData(volume, this.angle, mode));
  }
}

function rotateData<T extends Float32Array | Uint8Array>(volume: Volume<T>, angle: number, mode: InterpolationMode): T {
  const [X, Y, Z] = volume.shape;
  const C = volume.channels;
  const src = volume.data;
  const out = new (src.constructor as new (n: number) => T)(src.length);
  const cx = (X - 1) / 2;
  const cy = (Y - 1) / 2;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  // The in-plane mapping is the same for every slice: work it out once per (x, y).
  const plane = X * Y;
  const i00 = new Int32Array(plane);
  const wx = new Float32Array(plane);
  const wy = new Float32Array(plane);
  for (let y = 0, p = 0; y < Y; y++) {
    for (let x = 0; x < X; x++, p++) {
      // Inverse rotation: where does output (x, y) come from?
      const sx = Math.min(Math.max(cos * (x - cx) + sin * (y - cy) + cx, 0), X - 1);
      const sy = Math.min(Math.max(-sin * (x - cx) + cos * (y - cy) + cy, 0), Y - 1);
      if (mode === "nearest") {
        i00[p] = Math.round(sy) * X + Math.round(sx);
      } else {
        const fx = Math.min(Math.floor(sx), Math.max(X - 2, 0));
        const fy = Math.min(Math.floor(sy), Math.max(Y - 2, 0));
        i00[p] = fy * X + fx;
        wx[p] = X > 1 ? sx - fx : 0;
        wy[p] = Y > 1 ? sy - fy : 0;
      }
    }
  }
  const dx = X > 1 ? C : 0;
  const dy = Y > 1 ? X * C : 0;
  for (let z = 0; z < Z; z++) {
    const base = z * plane * C;
    for (let p = 0; p < plane; p++) {
      const s = base + i00[p] * C;
      const d = base + p * C;
      if (mode === "nearest") {
        for (let c = 0; c < C; c++) out[d + c] = src[s + c];
        continue;
      }
      const ax = wx[p];
      const ay = wy[p];
      for (let c = 0; c < C; c++) {
        const top = src[s + c] * (1 - ax) + src[s + dx + c] * ax;
        const bottom = src[s + dy + c] * (1 - ax) + src[s + dy + dx + c] * ax;
        out[d + c] = top * (1 - ay) + bottom * ay;
      }
    }
  }
  return out;
}

export interface RandRotateOptions {
  /** Probability of rotating. Default 0.5. */
  prob?: number;
  /** The angle is uniform in [−range, range] radians. Default 0.26 (15°). */
  range?: number;
}

export class RandRotate extends RandomizableTransform implements Transform<Volume> {
  readonly name = "RandRotate";
  angle = 0;

  constructor(readonly options: RandRotateOptions = {}) {
    super();
    const prob = options.prob ?? 0.5;
    requireOption(this.name, prob >= 0 && prob <= 1, `prob must be in [0, 1], got ${prob}`);
    requireOption(this.name, (options.range ?? 0.26) >= 0, "range must be >= 0");
  }

  randomize(): void {
    const range = this.options.range ?? 0.26;
    this.angle = this.chance(this.options.prob ?? 0.5) ? this.rng.uniform(-range, range) : 0;
  }

  apply(volume: Volume, randomize = true): Volume {
    if (randomize) this.randomize();
    return new Rotate(this.angle).apply(volume);
  }
}

export class RandRotated extends RandomizableTransform implements Transform<Sample> {
  readonly name = "RandRotated";
  private readonly rotator: RandRotate;

  constructor(readonly options: RandRotateOptions & { keys: readonly string[] }) {
    super();
    this.rotator = new RandRotate(options);
  }

  override setRandomState(seed: number): this {
    this.rotator.setRandomState(seed);
    return this;
  }

  /** The angle drawn by the last randomize(). */
  get angle(): number {
    return this.rotator.angle;
  }

  randomize(): void {
    this.rotator.randomize();
  }

  apply(sample: Sample): Sample {
    this.randomize();
    return mapKeys(sample, this.options.keys, this.name, (v) => this.rotator.apply(v, false));
  }
}
