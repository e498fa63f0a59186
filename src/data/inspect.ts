import type { Affine } from "./nifti/affine.js";
import { channelCount, type NiftiVolume, readNifti } from "./nifti/read.js";

export interface ChannelStats {
  min: number;
  max: number;
  mean: number;
  sum: number;
}

/** What `orchestrate inspect --json` prints: the header's geometry and per-channel scaled statistics. */
export interface NiftiSummary {
  file: string;
  version: 1 | 2;
  shape: number[];
  spacing: number[];
  datatype: string;
  affine: Affine;
  channels: ChannelStats[];
}

export async function inspectNifti(path: string): Promise<NiftiSummary> {
  const volume = await readNifti(path);
  return {
    file: path,
    version: volume.version,
    shape: volume.shape,
    spacing: volume.spacing,
    datatype: volume.datatype,
    affine: volume.affine,
    channels: channelStats(volume),
  };
}

/** Statistics of the scaled values per 4th-dimension index, accumulated in float64 from the stored values. */
export function channelStats(volume: NiftiVolume): ChannelStats[] {
  const channels = channelCount(volume);
  const voxels = volume.raw.length / channels;
  const { raw, slope, inter } = volume;
  const out: ChannelStats[] = [];
  for (let c = 0; c < channels; c++) {
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (let i = c * voxels; i < (c + 1) * voxels; i++) {
      const v = raw[i] * slope + inter;
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
    }
    out.push({ min, max, mean: sum / voxels, sum });
  }
  return out;
}

/** A few lines for people. */
export function formatSummary(s: NiftiSummary): string {
  const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(6));
  const lines = [
    `${s.file}: NIfTI-${s.version}, ${s.datatype}, ${s.shape.join("×")} voxels of ${s.spacing.map(fmt).join("×")} mm`,
    "affine:",
    ...s.affine.map((row) => `  [${row.map(fmt).join(", ")}]`),
    ...s.channels.map((c, i) => `channel ${i}: min ${fmt(c.min)}, max ${fmt(c.max)}, mean ${fmt(c.mean)}`),
  ];
  return `${lines.join("\n")}\n`;
}
