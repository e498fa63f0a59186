import type { Volume } from "../volume.js";
import { mapKeys, type Sample, type Transform, transformError } from "./base.js";
import { withData } from "./spatial.js";

export interface NormalizeIntensityOptions {
  /** Statistics over nonzero voxels only, and zeros stay zero (MONAI's nonzero=True). Default true. */
  nonzero?: boolean;
}

/**
 * Z-score per channel: (v − mean) / std, with statistics in float64. A channel without any (nonzero) voxel
 * or with zero spread is only shifted.
 */
export class NormalizeIntensity implements Transform<Volume> {
  readonly name = "NormalizeIntensity";

  constructor(readonly options: NormalizeIntensityOptions = {}) {}

  apply(volume: Volume, key?: string): Volume {
    if (!(volume.data instanceof Float32Array))
      throw transformError(this.name, "needs a float32 image, got a label map", key);
    return withData(volume, zscore(volume.data, volume.channels, this.options.nonzero ?? true));
  }
}

export function zscore(data: Float32Array, channels: number, nonzero: boolean): Float32Array {
  const out = new Float32Array(data.length);
  for (let c = 0; c < channels; c++) {
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    for (let i = c; i < data.length; i += channels) {
      const v = data[i];
      if (nonzero && v === 0) continue;
      n++;
      sum += v;
      sumSq += v * v;
    }
    const mean = n > 0 ? sum / n : 0;
    const std = n > 0 ? Math.sqrt(Math.max(sumSq / n - mean * mean, 0)) : 0;
    const scale = std > 1e-8 ? 1 / std : 1;
    for (let i = c; i < data.length; i += channels) {
      const v = data[i];
      out[i] = nonzero && v === 0 ? 0 : (v - mean) * scale;
    }
  }
  return out;
}

export class NormalizeIntensityd implements Transform<Sample> {
  readonly name = "NormalizeIntensityd";
  private readonly normalize: NormalizeIntensity;

  constructor(readonly options: NormalizeIntensityOptions & { keys: readonly string[] }) {
    this.normalize = new NormalizeIntensity(options);
  }

  apply(sample: Sample): Sample {
    return mapKeys(sample, this.options.keys, this.name, (v, key) => this.normalize.apply(v, key));
  }
}
