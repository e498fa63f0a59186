/**
 * The data seam: everything between files on disk and the trainer's typed arrays, free of tfjs and comm.
 *
 *   const dataset = await loadDecathlon("data/Task05_Prostate");
 *   const { train, validation } = splitCases(dataset.cases, { seed: 1 });
 *   const cache = new CaseCache((i) => preprocessCase(dataset, train[i]), { caseCount: train.length, cacheRate: 1 });
 *   const shard = shardEpoch(train.length, worldSize, epoch, seed)[rank];
 *   for (const step of stepsOfShard(shard, 2)) {
 *     const batch = sampler.sample(await Promise.all(step.map((i) => cache.get(i))), 2, rng);
 *   }
 */
export { type Batch, BatchSampler } from "./batch.js";
export { CaseCache, type CaseCacheOptions } from "./cache.js";
export {
  type CaseProblem,
  checkDataset,
  type DatasetReport,
  formatReport,
  problemLines,
  requireCheckedDataset,
} from "./check.js";
export {
  DEFAULT_SPLIT,
  type DecathlonCase,
  type DecathlonDataset,
  type DecathlonListing,
  loadDecathlon,
  readDecathlonJson,
  type Split,
  type SplitOptions,
  splitCases,
} from "./decathlon.js";
export { keepLargestComponent, type LargestComponentOptions } from "./largestComponent.js";
export { checkedCase, checkedImage, type LoadedCase, loadCase, loadImage } from "./loadCase.js";
export * from "./nifti/index.js";
export { type PreprocessedCase, preprocessCase, preprocessImage, preprocessLoaded } from "./preprocess.js";
export {
  labelsToOriginalGrid,
  resampledSize,
  resampleLinear,
  resampleNearest,
  resampleVolume,
  spacingGrid,
} from "./resample.js";
export { shardEpoch, stepsOfShard } from "./sharding.js";
export { type SynthOptions, writeSyntheticDataset } from "./synth/dataset.js";
export {
  type AugmentOptions,
  type PreprocessOptions,
  preprocessingTransforms,
  trainingTransforms,
} from "./transforms/index.js";
export * from "./volume.js";
