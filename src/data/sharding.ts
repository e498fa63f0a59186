import { inputError } from "../errors.js";
import { Rng } from "../random.js";

/**
 * Each epoch's seeded permutation of the training cases, dealt to ranks like torch's DistributedSampler:
 * padded by wrapping around to a multiple of worldSize, then rank r takes every worldSize-th case from r.
 * All shards have the same length, so every rank takes the same number of steps and no all-reduce waits
 * forever; without padding the shards are disjoint and together cover every case.
 */
export function shardEpoch(caseCount: number, worldSize: number, epoch: number, seed: number): number[][] {
  if (!Number.isInteger(caseCount) || caseCount < 1)
    throw inputError("shardEpoch", `caseCount must be a positive integer, got ${caseCount}`);
  if (!Number.isInteger(worldSize) || worldSize < 1)
    throw inputError("shardEpoch", `worldSize must be a positive integer, got ${worldSize}`);
  if (!Number.isInteger(epoch) || epoch < 0)
    throw inputError("shardEpoch", `epoch must be a non-negative integer, got ${epoch}`);
  const rng = new Rng(epochSeed(seed, epoch));
  const order = rng.shuffle([...Array(caseCount).keys()]);
  const perShard = Math.ceil(caseCount / worldSize);
  return Array.from({ length: worldSize }, (_, rank) =>
    Array.from({ length: perShard }, (_, k) => order[(rank + k * worldSize) % caseCount]),
  );
}

/** Mixes the run seed and the epoch so consecutive epochs get unrelated permutations. */
function epochSeed(seed: number, epoch: number): number {
  return ((seed >>> 0) ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0;
}

/** Groups a shard into per-step lists of `batchSize` cases; the last group wraps to the shard's start. */
export function stepsOfShard(shard: readonly number[], batchSize: number): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw inputError("--batch", `must be a positive integer, got ${batchSize}`);
  if (shard.length === 0) return [];
  const steps = Math.ceil(shard.length / batchSize);
  return Array.from({ length: steps }, (_, s) =>
    Array.from({ length: batchSize }, (_, b) => shard[(s * batchSize + b) % shard.length]),
  );
}
