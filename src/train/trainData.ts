import { BatchSampler } from "../data/batch.js";
import { CaseCache } from "../data/cache.js";
import { loadDecathlon } from "../data/decathlon.js";
import { type PreprocessedCase, preprocessCase } from "../data/preprocess.js";
import { shardEpoch, stepsOfShard } from "../data/sharding.js";
import type { RunSpec } from "../protocol/messages.js";
import type { Rng } from "../random.js";

/**
 * A worker's training data: its cases (the run's training list, from the shared dataset directory), kept
 * preprocessed in the data engineer's bounded cache, and batches drawn by the batch sampler.
 */
export interface TrainData {
  /** Indices into the training list that rank `rank` trains on in `epoch`, step by step. */
  stepCases(epoch: number, rank: number, worldSize: number, stepInEpoch: number): number[];
  batch(cases: number[], rng: Rng): Promise<{ x: Float32Array; labels: Int32Array }>;
}

export async function openTrainData(run: RunSpec): Promise<TrainData> {
  const { config } = run;
  const dataset = await loadDecathlon(run.dataDir);
  const entries = run.trainCases.map((i) => dataset.cases[i]);
  const cache = new CaseCache<PreprocessedCase>((i) => preprocessCase(dataset, entries[i]), {
    caseCount: entries.length,
    cacheRate: config.cacheRate,
  });
  const sampler = new BatchSampler({ patch: config.patch });
  return {
    stepCases: (epoch, rank, worldSize, stepInEpoch) => {
      const steps = stepsOfShard(shardEpoch(entries.length, worldSize, epoch, config.seed)[rank], config.batch);
      // --steps-per-epoch beyond the shard goes round it again
      return steps[stepInEpoch % steps.length];
    },
    batch: async (cases, rng) => {
      const loaded = await Promise.all(cases.map((i) => cache.get(i)));
      const batch = sampler.sample(loaded, config.batch, rng);
      return { x: batch.images, labels: batch.labels };
    },
  };
}
