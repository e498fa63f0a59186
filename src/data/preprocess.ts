import type { DecathlonCase, DecathlonDataset } from "./decathlon.js";
import { loadCase } from "./loadCase.js";
import type { Affine } from "./nifti/affine.js";
import type { PreprocessOptions } from "./transforms/index.js";
import { preprocessingTransforms } from "./transforms/index.js";
import type { ImageVolume, LabelVolume, Shape3 } from "./volume.js";

/** A case ready for patch sampling: channels-last, at the target spacing (1 mm), z-scored. */
export interface PreprocessedCase {
  id: string;
  /** [Z, Y, X, C] channels-last */
  data: Float32Array;
  /** [Z, Y, X] */
  labels: Uint8Array;
  shape: Shape3;
  channels: number;
  spacing: Shape3;
  affine: Affine;
}

/** Loads (with every input check), resamples and z-scores one case. */
export async function preprocessCase(
  dataset: Pick<DecathlonDataset, "channels" | "labels">,
  entry: DecathlonCase,
  options: PreprocessOptions = {},
): Promise<PreprocessedCase> {
  const loaded = await loadCase(dataset, entry);
  return preprocessLoaded(loaded.id, loaded.image, loaded.label, options);
}

export function preprocessLoaded(
  id: string,
  image: ImageVolume,
  label: LabelVolume,
  options: PreprocessOptions = {},
): PreprocessedCase {
  const out = preprocessingTransforms(options).apply({ image, label });
  return {
    id,
    data: out.image.data as Float32Array,
    labels: out.label.data as Uint8Array,
    shape: out.image.shape,
    channels: out.image.channels,
    spacing: out.image.spacing,
    affine: out.image.affine,
  };
}

/** Image-only preprocessing, for prediction: same resampling and z-scoring as training saw. */
export function preprocessImage(image: ImageVolume, options: PreprocessOptions = {}): ImageVolume {
  return preprocessingTransforms(options, false).apply({ image }).image as ImageVolume;
}
