import { resampleVolume } from "../resample.js";
import type { Volume } from "../volume.js";
import { mapKeys, requireOption, type Sample, type Transform } from "./base.js";

export type InterpolationMode = "linear" | "nearest";

export interface SpacingOptions {
  /** Target spacing X Y Z in mm. Default 1 mm isotropic. */
  pixdim?: readonly number[];
  /** Default: linear for float images, nearest for label maps. */
  mode?: InterpolationMode;
}

/** Resamples to a target spacing (separable trilinear, or nearest neighbour), keeping world positions. */
export class Spacing implements Transform<Volume> {
  readonly name = "Spacing";
  readonly pixdim: number[];

  constructor(readonly options: SpacingOptions = {}) {
    this.pixdim = [...(options.pixdim ?? [1, 1, 1])];
    requireOption(
      this.name,
      this.pixdim.length === 3 && this.pixdim.every((s) => s > 0),
      `pixdim must be 3 positive numbers, got ${this.pixdim}`,
    );
  }

  apply(volume: Volume, mode = this.options.mode): Volume {
    return resampleVolume(volume, this.pixdim, mode);
  }
}

export interface SpacingdOptions {
  keys: readonly string[];
  pixdim?: readonly number[];
  /** One mode for all keys or one per key. */
  mode?: InterpolationMode | readonly InterpolationMode[];
}

export class Spacingd implements Transform<Sample> {
  readonly name = "Spacingd";
  private readonly spacing: Spacing;

  constructor(readonly options: SpacingdOptions) {
    this.spacing = new Spacing({ pixdim: options.pixdim });
    const modes = options.mode;
    requireOption(this.name, !Array.isArray(modes) || modes.length === options.keys.length, "mode: one per key");
  }

  apply(sample: Sample): Sample {
    const { keys, mode } = this.options;
    return mapKeys(sample, keys, this.name, (v, key) =>
      this.spacing.apply(v, typeof mode === "string" || mode === undefined ? mode : mode[keys.indexOf(key)]),
    );
  }
}
