/**
 * One case through a bundle: read the image(s), check them against the bundle, preprocess as training did,
 * sliding-window inference, argmax, the bundle's postprocessing, and the label map back on the input's own
 * grid. Nothing is written here; predict.ts decides where results go.
 */
import { keepLargestComponent } from "../data/largestComponent.js";
import { affinesClose, channelCount, type NiftiVolume, readNifti } from "../data/nifti/index.js";
import { preprocessImage } from "../data/preprocess.js";
import { labelsToOriginalGrid, spacingGrid } from "../data/resample.js";
import { argmaxLabels, effectiveWindow, slidingWindowInference, windowStarts } from "../data/slidingWindow.js";
import { type ImageVolume, planarToChannelsLast, type Shape3, voxelCount } from "../data/volume.js";
import { inputError } from "../errors.js";
import type { BundleManifest } from "./bundle.js";
import type { InferenceEngine } from "./predictEngine.js";

/** A case as given: its channels-last image in the input grid, plus the header that the mask must copy. */
export interface CaseImage {
  /** The file(s) it came from, for messages. */
  paths: string[];
  image: ImageVolume;
  /** The first input file's header (shape, affine) that the mask reproduces. */
  reference: NiftiVolume;
}

export interface CasePrediction {
  /** Label map on the input grid, index (z*Y + y)*X + x. */
  labels: Uint8Array;
  shape: Shape3;
  /** Voxels of the resampled volume the network saw, and its shape. */
  resampledShape: Shape3;
  windows: number;
}

/**
 * Bounds on the work one case may cost, checked before any: the largest volume a case may be resampled to (voxels; 2^27 is a 512×512×512 grid, ~0.5 GB per float32
 * channel): an edited bundle's tiny target spacing is refused before any memory is spent. Overridable for
 * honest giant scans with VOXRING_MAX_RESAMPLED_VOXELS.
 */
const MAX_RESAMPLED_VOXELS = Number(process.env.VOXRING_MAX_RESAMPLED_VOXELS) || 2 ** 27;
/** Sliding windows per case: a prostate MRI at the reference settings needs a few dozen. */
const MAX_WINDOWS = Number(process.env.VOXRING_MAX_WINDOWS) || 4096;

/**
 * Reads a case: one 4D file holding the bundle's channels in order, or one 3D file per channel on one grid.
 * Every mismatch is an InputError naming the file at fault.
 */
export async function readCase(paths: string[], manifest: BundleManifest): Promise<CaseImage> {
  const want = manifest.channels.length;
  const wanted = `the bundle takes ${want} (${manifest.channels.join(", ")})`;
  if (paths.length === 1) {
    const volume = await readNifti(paths[0]);
    const channels = channelCount(volume);
    if (volume.shape.length > 4) throw inputError(paths[0], `has ${volume.shape.length} dimensions, expected 3 or 4`);
    if (channels !== want) throw inputError(paths[0], `has ${channels} channel(s), ${wanted}`);
    const shape = volume.shape.slice(0, 3) as Shape3;
    const data = planarToChannelsLast(volume.data, voxelCount(shape), channels);
    return { paths, image: imageOf(volume, data, channels), reference: volume };
  }
  if (paths.length !== want) throw inputError("--in", `${paths.length} files given, ${wanted}: one file per channel`);
  const volumes: NiftiVolume[] = [];
  for (const path of paths) volumes.push(await readNifti(path));
  const first = volumes[0];
  volumes.forEach((volume, c) => {
    if (channelCount(volume) !== 1 || volume.shape.length > 4) {
      throw inputError(paths[c], `has ${channelCount(volume)} channels; with one --in per channel each must be 3D`);
    }
    const sameShape = volume.shape.slice(0, 3).join() === first.shape.slice(0, 3).join();
    if (!sameShape || !affinesClose(volume.affine, first.affine)) {
      throw inputError(
        paths[c],
        `is not on the grid of ${paths[0]} (shape ${volume.shape.slice(0, 3).join("×")} vs ` +
          `${first.shape.slice(0, 3).join("×")}${sameShape ? ", different affine" : ""}); channels must share one grid`,
      );
    }
  });
  const voxels = voxelCount(first.shape);
  const data = new Float32Array(voxels * want);
  volumes.forEach((volume, c) => {
    const values = volume.data;
    for (let v = 0, o = c; v < voxels; v++, o += want) data[o] = values[v];
  });
  return { paths, image: imageOf(first, data, want), reference: first };
}

function imageOf(volume: NiftiVolume, data: Float32Array, channels: number): ImageVolume {
  return {
    data,
    shape: volume.shape.slice(0, 3) as Shape3,
    channels,
    spacing: [...volume.spacing] as Shape3,
    affine: volume.affine,
  };
}

/**
 * The training pipeline's own preprocessing (src/data): resample to the bundle's spacing, z-score each channel
 * over its nonzero voxels; no foreground crop, so voxel 0 stays put and the mask maps straight back.
 */
export function preprocess(image: ImageVolume, manifest: BundleManifest, where = "--in"): ImageVolume {
  const target = manifest.preprocessing.targetSpacing;
  const { outShape } = spacingGrid(image.shape, image.spacing, target);
  const voxels = outShape[0] * outShape[1] * outShape[2];
  if (voxels > MAX_RESAMPLED_VOXELS) {
    throw inputError(
      where,
      `resampled to the bundle's ${target.join("×")} mm it would have ${outShape.join("×")} voxels, ` +
        `more than the limit of ${MAX_RESAMPLED_VOXELS} (VOXRING_MAX_RESAMPLED_VOXELS)`,
    );
  }
  const { window: requested, windowMultiple, overlap } = manifest.inference;
  const window = effectiveWindow(outShape, requested, windowMultiple);
  const windows = [0, 1, 2].reduce(
    (n, a) => n * windowStarts(Math.max(outShape[a], window[a]), window[a], overlap).length,
    1,
  );
  if (windows > MAX_WINDOWS) {
    throw inputError(
      where,
      `at the bundle's ${target.join("×")} mm, window ${window.join("×")} and overlap ${overlap} it needs ` +
        `${windows} windows, more than the limit of ${MAX_WINDOWS} (VOXRING_MAX_WINDOWS)`,
    );
  }
  return preprocessImage(image, { spacing: manifest.preprocessing.targetSpacing, cropForeground: false });
}

/** Segments one case; `onProgress` reports sliding windows done. */
export async function predictCase(
  input: CaseImage,
  manifest: BundleManifest,
  engine: InferenceEngine,
  onProgress?: (done: number, total: number) => void,
): Promise<CasePrediction> {
  const pre = preprocess(input.image, manifest, input.paths[0]);
  const { inference } = manifest;
  let windows = 0;
  const probs = await slidingWindowInference(pre.data, pre.shape, pre.channels, {
    window: inference.window,
    overlap: inference.overlap,
    multipleOf: inference.windowMultiple,
    padValue: inference.padValue,
    sigmaScale: inference.sigmaScale,
    numClasses: manifest.labels.length,
    predict: engine.predict,
    onProgress: (done, total) => {
      windows = total;
      onProgress?.(done, total);
    },
  });
  const argmax = argmaxLabels(probs, manifest.labels.length);
  // On the network's grid, as validation did: nearest-neighbour resampling could split or merge blobs.
  const resampledLabels =
    manifest.postprocess === "largest-component" ? keepLargestComponent(argmax, pre.shape) : argmax;
  const labels = labelsToOriginalGrid(resampledLabels, pre.shape, pre.spacing, input.image.shape, input.image.spacing);
  return { labels, shape: input.image.shape, resampledShape: pre.shape, windows };
}
