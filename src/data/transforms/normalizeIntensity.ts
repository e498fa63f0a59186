import type { Volume } from "../volume.js";
import { mapKeys, type Sample, type Transform, transformError } from "./base.js";
import { withData } from "./spatial.js";

export interface NormalizeIntensityOptions {
  /** Statistics over nonzero voxels only, and zeros stay zero (MONAI's nonzero=True). Default true. */
  nonzero?: boolean;
  /**
   * Overwrite the input's data instead of allocating: only for chains that own the array (the output of a
   * resampling step), where it saves one volume-sized allocation per case.
   */
  inPlace?: boolean;
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
    const out = this.options.inPlace ? volume.data : undefined;
    return withData(volume, zscore(volume.data, volume.channels, this.options.nonzero ?? true, out));
  }
}

/** Z-scores channels-last data per channel into `out` (which may be `data` itself). */
export function zscore(
  data: Float32Array,
  channels: number,
  nonzero: boolean,
  out: Float32Array = new Float32Array(data.length),
): Float32Array {
  const mean = new Float64Array(channels);
  const scale = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    // Scalar accumulators in a strided loop: V8 keeps them in registers.
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
    mean[c] = n > 0 ? sum / n : 0;
    const std = n > 0 ? Math.sqrt(Math.max(sumSq / n - mean[c] * mean[c], 0)) : 0;
    scale[c] = std > 1e-8 ? 1 / std : 1;
  }
  for (let c = 0; c < channels; c++) {
    const m = mean[c];
    const k = scale[c];
    for (let i = c; i < data.length; i += channels) {
      const v = data[i];
      out[i] = nonzero && v === 0 ? 0 : (v - m) * k;
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
