import type { Volume } from "../volume.js";
import { mapKeys, RandomizableTransform, requireOption, type Sample, type Transform } from "./base.js";
import { withData } from "./spatial.js";

/** Mirrors a volume along the given spatial axes (0 = x, 1 = y, 2 = z). */
export class Flip implements Transform<Volume> {
  readonly name = "Flip";

  constructor(readonly axes: readonly number[]) {
    requireOption(
      this.name,
      axes.every((a) => a === 0 || a === 1 || a === 2),
      `axes must be among 0, 1, 2, got ${axes}`,
    );
  }

  apply(volume: Volume): Volume {
    if (this.axes.length === 0) return volume;
    return withData(volume, flipData(volume, this.axes.includes(0), this.axes.includes(1), this.axes.includes(2)));
  }
}

function flipData<T extends Float32Array | Uint8Array>(volume: Volume<T>, fx: boolean, fy: boolean, fz: boolean): T {
  const [X, Y, Z] = volume.shape;
  const C = volume.channels;
  const src = volume.data;
  const out = new (src.constructor as new (n: number) => T)(src.length);
  for (let z = 0; z < Z; z++) {
    const sz = fz ? Z - 1 - z : z;
    for (let y = 0; y < Y; y++) {
      const sy = fy ? Y - 1 - y : y;
      const srcRow = (sz * Y + sy) * X * C;
      const dstRow = (z * Y + y) * X * C;
      if (!fx) {
        out.set(src.subarray(srcRow, srcRow + X * C), dstRow);
        continue;
      }
      for (let x = 0; x < X; x++) {
        const s = srcRow + (X - 1 - x) * C;
        const d = dstRow + x * C;
        for (let c = 0; c < C; c++) out[d + c] = src[s + c];
      }
    }
  }
  return out;
}

export interface RandFlipOptions {
  /** Probability of flipping, drawn per axis. Default 0.5. */
  prob?: number;
  /** Axes that may flip. Default all three. */
  axes?: readonly number[];
}

/** Flips each allowed axis independently with probability `prob`. */
export class RandFlip extends RandomizableTransform implements Transform<Volume> {
  readonly name = "RandFlip";
  /** Axes chosen by the last randomize(). */
  flipped: number[] = [];

  constructor(readonly options: RandFlipOptions = {}) {
    super();
    const prob = options.prob ?? 0.5;
    requireOption(this.name, prob >= 0 && prob <= 1, `prob must be in [0, 1], got ${prob}`);
    new Flip(options.axes ?? [0, 1, 2]);
  }

  randomize(): void {
    const prob = this.options.prob ?? 0.5;
    this.flipped = (this.options.axes ?? [0, 1, 2]).filter(() => this.chance(prob));
  }

  apply(volume: Volume, randomize = true): Volume {
    if (randomize) this.randomize();
    return new Flip(this.flipped).apply(volume);
  }
}

export class RandFlipd extends RandomizableTransform implements Transform<Sample> {
  readonly name = "RandFlipd";
  private readonly flipper: RandFlip;

  constructor(readonly options: RandFlipOptions & { keys: readonly string[] }) {
    super();
    this.flipper = new RandFlip(options);
  }

  override setRandomState(seed: number): this {
    this.flipper.setRandomState(seed);
    return this;
  }

  randomize(): void {
    this.flipper.randomize();
  }

  apply(sample: Sample): Sample {
    this.randomize();
    return mapKeys(sample, this.options.keys, this.name, (v) => this.flipper.apply(v, false));
  }
}
