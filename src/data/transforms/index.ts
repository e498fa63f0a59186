import type { Shape3 } from "../volume.js";
import type { Transform } from "./base.js";
import { Compose } from "./compose.js";
import { CropForegroundd } from "./cropForeground.js";
import { RandFlipd } from "./flip.js";
import { NormalizeIntensityd } from "./normalizeIntensity.js";
import { RandCropByPosNegLabeld } from "./randCropByPosNegLabel.js";
import { RandRotated } from "./rotate.js";
import { RandRotate90d } from "./rotate90.js";
import { RandShiftIntensityd } from "./shiftIntensity.js";
import { Spacingd } from "./spacing.js";

export * from "./base.js";
export * from "./compose.js";
export * from "./cropForeground.js";
export * from "./flip.js";
export * from "./normalizeIntensity.js";
export * from "./randCropByPosNegLabel.js";
export * from "./rotate.js";
export * from "./rotate90.js";
export * from "./shiftIntensity.js";
export * from "./spacing.js";
export * from "./spatial.js";

export interface PreprocessOptions {
  /** Target spacing in mm. Default 1 mm isotropic. */
  spacing?: Shape3;
  /**
   * Crop to the box where any image channel is > 0. Default false: the grid then keeps voxel 0 of the
   * original, so a prediction maps straight back onto the input.
   */
  cropForeground?: boolean;
}

/**
 * Deterministic per-case preprocessing on a {image, label} sample (label optional for prediction):
 * resample to the target spacing (trilinear image, nearest label), optionally crop to foreground, z-score
 * each image channel over its nonzero voxels.
 */
export function preprocessingTransforms(options: PreprocessOptions = {}, withLabel = true): Compose {
  const keys = withLabel ? ["image", "label"] : ["image"];
  const chain: Transform[] = [new Spacingd({ keys, pixdim: options.spacing ?? [1, 1, 1] })];
  if (options.cropForeground) chain.push(new CropForegroundd({ keys, sourceKey: "image" }));
  // In place: the image here is always a fresh array made by the resampling (or cropping) before it.
  chain.push(new NormalizeIntensityd({ keys: ["image"], nonzero: true, inPlace: true }));
  return new Compose(chain);
}

export interface AugmentOptions {
  /** Patch X Y Z. Default 96 96 32. */
  patch?: Shape3;
  /** Foreground : background centre odds. Default 1 : 1. */
  pos?: number;
  neg?: number;
  /** Per-axis flip probability. Default 0.5. */
  flipProb?: number;
  /** Probability of an in-plane quarter turn (only when the patch is square in-plane). Default 0.5. */
  rotate90Prob?: number;
  /** Probability and range (radians) of a small in-plane rotation. Default 0.3 and 0.26 (15°). */
  rotateProb?: number;
  rotateRange?: number;
  /** Probability and range of an intensity shift in z-scored units. Default 0.5 and 0.1. */
  shiftProb?: number;
  shiftOffsets?: number;
}

/**
 * The random chain that turns a preprocessed case into one training patch: crop centred on foreground or
 * background, flips, quarter turns, a small rotation, an intensity shift. Seed it with setRandomState.
 */
export function trainingTransforms(options: AugmentOptions = {}): Compose {
  const keys = ["image", "label"];
  const patch = options.patch ?? [96, 96, 32];
  const chain: Transform[] = [
    new RandCropByPosNegLabeld({ keys, labelKey: "label", spatialSize: patch, pos: options.pos, neg: options.neg }),
    new RandFlipd({ keys, prob: options.flipProb ?? 0.5 }),
  ];
  // A quarter turn swaps X and Y, which would change the patch shape of a non-square patch.
  if (patch[0] === patch[1]) chain.push(new RandRotate90d({ keys, prob: options.rotate90Prob ?? 0.5 }));
  chain.push(
    new RandRotated({ keys, prob: options.rotateProb ?? 0.3, range: options.rotateRange }),
    new RandShiftIntensityd({ keys: ["image"], prob: options.shiftProb ?? 0.5, offsets: options.shiftOffsets }),
  );
  return new Compose(chain);
}
