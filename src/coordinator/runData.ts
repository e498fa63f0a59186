/**
 * The coordinator's view of the data: which dataset (the given one, or the cached synthetic one), its
 * names, the seeded train / validation split, each epoch's shards, and the validation volumes it
 * preprocesses itself. Workers load their training cases on their own (worker/trainData.ts).
 */
import { requireCheckedDataset } from "../data/check.js";
import { type DecathlonDataset, loadDecathlon, splitCases } from "../data/decathlon.js";
import { preprocessCase } from "../data/preprocess.js";
import { shardEpoch } from "../data/sharding.js";
import { type TrainConfig, worldSizeOf } from "../train/config.js";
import { ensureSyntheticDataset } from "./syntheticData.js";
import type { ValidationCase } from "./validation.js";

export interface RunData {
  dir: string;
  /** dataset.json's maps, kept for checkpoints and bundles */
  labels: Record<string, string>;
  modality: Record<string, string>;
  /** class names by label value, background first */
  labelNames: string[];
  inChannels: number;
  numClasses: number;
  /** case ids of the split */
  trainCases: string[];
  valCases: string[];
  /** indices into dataset.json's training list of the training cases (what workers are told) */
  trainIndices: number[];
  valImagePaths: string[];
  stepsPerEpoch: number;
  /** shard[r]: indices into trainCases that rank r trains on in this epoch */
  shard(epoch: number): number[][];
  loadValidationCases(): Promise<ValidationCase[]>;
}

/** The run's dataset, checked case by case first (data/check.ts): a bad case refuses the run, naming it. */
export async function prepareRunData(config: TrainConfig, log: (line: string) => void): Promise<RunData> {
  const dir = config.data ?? (await ensureSyntheticDataset(config.seed, config.synthCases, log));
  const checked = await requireCheckedDataset(dir);
  log(`data check: ${checked.cases} cases passed in ${checked.seconds.toFixed(1)} s`);
  const dataset = await loadDecathlon(dir);
  return describeRunData(dataset, config);
}

/** The split and plan of a loaded dataset (also what the equivalence test rebuilds in-process). */
export function describeRunData(dataset: DecathlonDataset, config: TrainConfig): RunData {
  const indexed = dataset.cases.map((entry, index) => ({ entry, index }));
  const split = splitCases(indexed, { seed: config.seed, validation: config.valFraction, test: 0 });
  const worldSize = worldSizeOf(config);
  const shardLength = Math.ceil(split.train.length / worldSize);
  const asMap = (names: string[]) => Object.fromEntries(names.map((name, i) => [String(i), name]));
  return {
    dir: dataset.dir,
    labels: asMap(dataset.labels),
    modality: asMap(dataset.channels),
    labelNames: dataset.labels,
    inChannels: dataset.channels.length,
    numClasses: dataset.labels.length,
    trainCases: split.train.map((c) => c.entry.id),
    valCases: split.validation.map((c) => c.entry.id),
    trainIndices: split.train.map((c) => c.index),
    valImagePaths: split.validation.map((c) => c.entry.image),
    stepsPerEpoch: config.stepsPerEpoch ?? Math.max(1, Math.ceil(shardLength / config.batch)),
    shard: (epoch) => shardEpoch(split.train.length, worldSize, epoch, config.seed),
    loadValidationCases: async () => {
      const cases: ValidationCase[] = [];
      for (const { entry } of split.validation) {
        const c = await preprocessCase(dataset, entry);
        cases.push({ name: c.id, image: c.data, labels: c.labels, shape: c.shape, channels: c.channels });
      }
      return cases;
    },
  };
}
