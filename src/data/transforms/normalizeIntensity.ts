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
  // One pass for every channel's sums, one pass to write: the volume is read twice, not twice per channel.
  const count = new Float64Array(channels);
  const sum = new Float64Array(channels);
  const sumSq = new Float64Array(channels);
  for (let i = 0; i < data.length; i += channels) {
    for (let c = 0; c < channels; c++) {
      const v = data[i + c];
      if (nonzero && v === 0) continue;
      count[c]++;
      sum[c] += v;
      sumSq[c] += v * v;
    }
  }
  const mean = new Float64Array(channels);
  const scale = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    mean[c] = count[c] > 0 ? sum[c] / count[c] : 0;
    const std = count[c] > 0 ? Math.sqrt(Math.max(sumSq[c] / count[c] - mean[c] * mean[c], 0)) : 0;
    scale[c] = std > 1e-8 ? 1 / std : 1;
  }
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += channels) {
    for (let c = 0; c < channels; c++) {
      const v = data[i + c];
      out[i + c] = nonzero && v === 0 ? 0 : (v - mean[c]) * scale[c];
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
