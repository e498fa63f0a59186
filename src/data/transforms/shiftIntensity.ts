import type { Volume } from "../volume.js";
import { mapKeys, RandomizableTransform, requireOption, type Sample, type Transform, transformError } from "./base.js";
import { withData } from "./spatial.js";

/** Adds an offset to every voxel, one offset per channel (or one for all). */
export class ShiftIntensity implements Transform<Volume> {
  readonly name = "ShiftIntensity";

  constructor(readonly offsets: number | readonly number[]) {}

  apply(volume: Volume, key?: string): Volume {
    if (!(volume.data instanceof Float32Array))
      throw transformError(this.name, "needs a float32 image, got a label map", key);
    const C = volume.channels;
    const offsets = typeof this.offsets === "number" ? new Array(C).fill(this.offsets) : [...this.offsets];
    if (offsets.length !== C) throw transformError(this.name, `${offsets.length} offsets for ${C} channels`, key);
    const src = volume.data;
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i += C) for (let c = 0; c < C; c++) out[i + c] = src[i + c] + offsets[c];
    return withData(volume, out);
  }
}

export interface RandShiftIntensityOptions {
  /** Offsets are uniform in [−offsets, offsets] (z-scored units). Default 0.1. */
  offsets?: number;
  /** Probability of shifting. Default 0.5. */
  prob?: number;
  /** Draw one offset per channel instead of one for all. Default false. */
  channelWise?: boolean;
}

export class RandShiftIntensity extends RandomizableTransform implements Transform<Volume> {
  readonly name = "RandShiftIntensity";
  /** Offsets drawn by the last randomize(); empty means no shift. */
  drawn: number[] = [];

  constructor(readonly options: RandShiftIntensityOptions = {}) {
    super();
    const prob = options.prob ?? 0.5;
    requireOption(this.name, prob >= 0 && prob <= 1, `prob must be in [0, 1], got ${prob}`);
    requireOption(this.name, (options.offsets ?? 0.1) >= 0, "offsets must be >= 0");
  }

  randomize(channels: number): void {
    const range = this.options.offsets ?? 0.1;
    if (!this.chance(this.options.prob ?? 0.5)) {
      this.drawn = [];
      return;
    }
    const count = this.options.channelWise ? channels : 1;
    this.drawn = Array.from({ length: count }, () => this.rng.uniform(-range, range));
  }

  apply(volume: Volume, randomize = true, key?: string): Volume {
    if (randomize) this.randomize(volume.channels);
    if (this.drawn.length === 0) return volume;
    return new ShiftIntensity(this.drawn.length === 1 ? this.drawn[0] : this.drawn).apply(volume, key);
  }
}

export class RandShiftIntensityd extends RandomizableTransform implements Transform<Sample> {
  readonly name = "RandShiftIntensityd";
  private readonly shifter: RandShiftIntensity;

  constructor(readonly options: RandShiftIntensityOptions & { keys: readonly string[] }) {
    super();
    this.shifter = new RandShiftIntensity(options);
  }

  override setRandomState(seed: number): this {
    this.shifter.setRandomState(seed);
    return this;
  }

  randomize(channels: number): void {
    this.shifter.randomize(channels);
  }

  apply(sample: Sample): Sample {
    const first = this.options.keys.length > 0 ? sample[this.options.keys[0]] : undefined;
    this.randomize(first?.channels ?? 1);
    return mapKeys(sample, this.options.keys, this.name, (v, key) => this.shifter.apply(v, false, key));
  }
}
