/**
 * Where this process stands in the run, worked out once from the coordinator's assignment; everything
 * else asks `ctx.isMain` instead of comparing ranks itself (as nanoGPT's master_process).
 */
export interface RunContext {
  readonly rank: number;
  readonly worldSize: number;
  /** Rank 0: the one that sends weight snapshots to the coordinator. */
  readonly isMain: boolean;
  /** Bumped at each restart of the ring, so frames of an older ring are dropped. */
  readonly generation: number;
}

export function makeRunContext(rank: number, worldSize: number, generation: number): RunContext {
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`bad world size ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize)
    throw new RangeError(`bad rank ${rank} of ${worldSize}`);
  return Object.freeze({ rank, worldSize, isMain: rank === 0, generation });
}

/**
 * The seed of one rank's batch at one global step: every draw of a step (cases' patches, augmentation)
 * comes from Rng(stepSeed(...)), so a resumed or restarted run draws exactly what an uninterrupted one
 * would, with no generator state to carry around.
 */
export function stepSeed(seed: number, rank: number, globalStep: number): number {
  let h = 0x811c9dc5;
  for (const word of [seed, rank, globalStep, 0x766f78]) {
    h = Math.imul(h ^ (word >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  }
  return h >>> 0;
}
