import { inputError } from "../errors.js";
import type { DecathlonCase, DecathlonDataset } from "./decathlon.js";
import { affinesClose } from "./nifti/affine.js";
import { channelCount, type NiftiVolume, type ReadOptions, readNifti } from "./nifti/read.js";
import { type ImageVolume, type LabelVolume, planarToChannelsLast, type Shape3, voxelCount } from "./volume.js";

/** One case as stored, checked against its dataset.json, channels-last, on its own grid. */
export interface LoadedCase {
  id: string;
  image: ImageVolume;
  label: LabelVolume;
}

/**
 * Loads an image and its label map and checks everything a training run would otherwise trip over later:
 * matching grids, the channel count of dataset.json, finite voxels, label values that dataset.json names.
 */
export async function loadCase(
  dataset: Pick<DecathlonDataset, "channels" | "labels">,
  entry: DecathlonCase,
  options: ReadOptions = {},
): Promise<LoadedCase> {
  const [image, label] = await Promise.all([readNifti(entry.image, options), readNifti(entry.label, options)]);
  return checkedCase(dataset, entry, image, label);
}

export function checkedCase(
  dataset: Pick<DecathlonDataset, "channels" | "labels">,
  entry: DecathlonCase,
  image: NiftiVolume,
  label: NiftiVolume,
): LoadedCase {
  const shape = image.shape.slice(0, 3) as Shape3;
  const channels = channelCount(image);
  const data = checkedImage(dataset, entry.image, image);
  if (label.shape.length !== 3) throw inputError(entry.label, `label map must be 3D, is ${label.shape.join("×")}`);
  if (label.shape.some((n, a) => n !== shape[a])) {
    throw inputError(
      entry.label,
      `shape ${label.shape.join("×")} does not match image ${shape.join("×")} (${entry.image})`,
    );
  }
  if (!affinesClose(image.affine, label.affine, 1e-3)) {
    throw inputError(entry.label, `affine differs from the image's (${entry.image})`);
  }
  const voxels = voxelCount(shape);
  return {
    id: entry.id,
    image: {
      data: planarToChannelsLast(data, voxels, channels),
      shape,
      channels,
      spacing: image.spacing,
      affine: image.affine,
    },
    label: {
      data: labelValues(entry.label, label, dataset.labels),
      shape,
      channels: 1,
      spacing: image.spacing,
      affine: image.affine,
    },
  };
}

/**
 * What an image must be on its own (training or test): dataset.json's channel count and finite voxels.
 * Returns its scaled voxels (planar, file order).
 */
export function checkedImage(
  dataset: Pick<DecathlonDataset, "channels">,
  path: string,
  image: NiftiVolume,
): Float32Array {
  const channels = channelCount(image);
  if (channels !== dataset.channels.length) {
    throw inputError(
      path,
      `has ${channels} channel(s), dataset.json's modality names ${dataset.channels.length} (${dataset.channels.join(", ")})`,
    );
  }
  const data = image.data;
  const bad = firstNonFinite(data);
  if (bad >= 0) {
    const voxels = data.length / channels;
    const c = Math.floor(bad / voxels);
    throw inputError(
      path,
      `non-finite voxel (${data[bad]}) in channel ${c} (${dataset.channels[c]}) at index ${bad % voxels}`,
    );
  }
  return data;
}

/** Index of the first NaN or ±Infinity, or −1 (v − v is 0 exactly for finite v, NaN otherwise). */
function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) return i;
  }
  return -1;
}

function labelValues(path: string, label: NiftiVolume, names: string[]): Uint8Array {
  const source = label.datatype === "uint8" && label.slope === 1 && label.inter === 0 ? label.raw : label.data;
  const classes = names.length;
  const explain = (v: number, i: number) =>
    inputError(
      path,
      `label value ${v} at index ${i} is not one of dataset.json's labels 0..${classes - 1} (${names.join(", ")})`,
    );
  if (source instanceof Uint8Array) {
    // Stored uint8: only the range can be wrong, and the bytes are used as they are.
    for (let i = 0; i < source.length; i++) if (source[i] >= classes) throw explain(source[i], i);
    return source;
  }
  const out = new Uint8Array(source.length);
  for (let i = 0; i < source.length; i++) {
    const v = source[i];
    if (!(v >= 0 && v < classes && Number.isInteger(v))) throw explain(v, i);
    out[i] = v;
  }
  return out;
}

/**
 * Loads one image for prediction as a channels-last volume: one 4D file, or several 3D/4D files on the same
 * grid whose channels are stacked in the order given (e.g. --in t2.nii.gz --in adc.nii.gz).
 */
export async function loadImage(paths: string | readonly string[]): Promise<ImageVolume> {
  const list = typeof paths === "string" ? [paths] : paths;
  const volumes = await Promise.all(list.map((p) => readNifti(p)));
  const first = volumes[0];
  const shape = first.shape.slice(0, 3) as Shape3;
  const voxels = voxelCount(shape);
  const channels = volumes.reduce((n, v) => n + channelCount(v), 0);
  const planar = new Float32Array(voxels * channels);
  let offset = 0;
  for (const v of volumes) {
    if (v.shape.slice(0, 3).some((n, a) => n !== shape[a])) {
      throw inputError(v.path, `shape ${v.shape.join("×")} does not match ${first.path}'s ${first.shape.join("×")}`);
    }
    if (!affinesClose(v.affine, first.affine, 1e-3)) throw inputError(v.path, `affine differs from ${first.path}'s`);
    const data = v.data;
    const bad = firstNonFinite(data);
    if (bad >= 0) throw inputError(v.path, `non-finite voxel (${data[bad]}) at index ${bad}`);
    planar.set(data, offset);
    offset += data.length;
  }
  return {
    data: planarToChannelsLast(planar, voxels, channels),
    shape,
    channels,
    spacing: first.spacing,
    affine: first.affine,
  };
}
