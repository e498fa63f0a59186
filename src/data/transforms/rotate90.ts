import type { Shape3, Volume } from "../volume.js";
import { mapKeys, RandomizableTransform, requireOption, type Sample, type Transform } from "./base.js";

/**
 * Rotates in-plane (the x-y plane, where MRI slices are acquired) by k quarter turns: voxel (x, y) moves to
 * (Y−1−y, x) per turn, so X and Y swap on odd k.
 */
export class Rotate90 implements Transform<Volume> {
  readonly name = "Rotate90";
  readonly k: number;

  constructor(k: number) {
    requireOption(this.name, Number.isInteger(k), `k must be an integer, got ${k}`);
    this.k = ((k % 4) + 4) % 4;
  }

  apply(volume: Volume): Volume {
    let out = volume;
    for (let i = 0; i < this.k; i++) out = quarterTurn(out);
    return out;
  }
}

function quarterTurn<T extends Float32Array | Uint8Array>(volume: Volume<T>): Volume<T> {
  const [X, Y, Z] = volume.shape;
  const C = volume.channels;
  const src = volume.data;
  const out = new (src.constructor as new (n: number) => T)(src.length);
  // Output grid is Y × X: out(x', y') = in(x = y', y = Y−1−x').
  for (let z = 0; z < Z; z++) {
    for (let yo = 0; yo < X; yo++) {
      for (let xo = 0; xo < Y; xo++) {
        const s = ((z * Y + (Y - 1 - xo)) * X + yo) * C;
        const d = ((z * X + yo) * Y + xo) * C;
        for (let c = 0; c < C; c++) out[d + c] = src[s + c];
      }
    }
  }
  const shape: Shape3 = [Y, X, Z];
  return { ...volume, data: out, shape, spacing: [volume.spacing[1], volume.spacing[0], volume.spacing[2]] };
}

export interface RandRotate90Options {
  /** Probability of rotating at all. Default 0.5. */
  prob?: number;
  /** k is drawn from 1..maxK. Default 3. */
  maxK?: number;
}

export class RandRotate90 extends RandomizableTransform implements Transform<Volume> {
  readonly name = "RandRotate90";
  k = 0;

  constructor(readonly options: RandRotate90Options = {}) {
    super();
    const prob = options.prob ?? 0.5;
    requireOption(this.name, prob >= 0 && prob <= 1, `prob must be in [0, 1], got ${prob}`);
    requireOption(
      this.name,
      Number.isInteger(options.maxK ?? 3) && (options.maxK ?? 3) >= 1,
      "maxK must be an integer >= 1",
    );
  }

  randomize(): void {
    this.k = this.chance(this.options.prob ?? 0.5) ? 1 + this.rng.int(this.options.maxK ?? 3) : 0;
  }

  apply(volume: Volume, randomize = true): Volume {
    if (randomize) this.randomize();
    return new Rotate90(this.k).apply(volume);
  }
}

export class RandRotate90d extends RandomizableTransform implements Transform<Sample> {
  readonly name = "RandRotate90d";
  private readonly rotator: RandRotate90;

  constructor(readonly options: RandRotate90Options & { keys: readonly string[] }) {
    super();
    this.rotator = new RandRotate90(options);
  }

  override setRandomState(seed: number): this {
    this.rotator.setRandomState(seed);
    return this;
  }

  randomize(): void {
    this.rotator.randomize();
  }

  apply(sample: Sample): Sample {
    this.randomize();
    return mapKeys(sample, this.options.keys, this.name, (v) => this.rotator.apply(v, false));
  }
}
