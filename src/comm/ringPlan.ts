/**
 * How a ring all-reduce cuts an array: N segments (one per rank, balanced to within one element), each
 * cut into chunks of at most `chunkElems` so that sending one chunk overlaps with reducing the previous.
 * A segment always has at least one chunk, even when empty, so every step of the ring exchanges a frame
 * and the protocol does not depend on the length (a length-0 all-reduce still synchronises the ranks).
 */
export interface RingPlan {
  length: number;
  worldSize: number;
  chunkElems: number;
  /** segment i covers [segmentStart[i], segmentStart[i + 1]) */
  segmentStart: number[];
  /** chunks in each segment (≥ 1) */
  chunkCount: number[];
}

export function ringPlan(length: number, worldSize: number, chunkElems: number): RingPlan {
  if (!Number.isInteger(length) || length < 0) throw new RangeError(`ring: bad length ${length}`);
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`ring: bad world size ${worldSize}`);
  if (!Number.isInteger(chunkElems) || chunkElems < 1) throw new RangeError(`ring: bad chunk size ${chunkElems}`);
  const segmentStart: number[] = [];
  for (let i = 0; i <= worldSize; i++) segmentStart.push(Math.floor((i * length) / worldSize));
  const chunkCount: number[] = [];
  for (let i = 0; i < worldSize; i++) {
    chunkCount.push(Math.max(1, Math.ceil((segmentStart[i + 1] - segmentStart[i]) / chunkElems)));
  }
  return { length, worldSize, chunkElems, segmentStart, chunkCount };
}

/** Element range [lo, hi) of chunk `chunk` of segment `segment`. */
export function chunkRange(plan: RingPlan, segment: number, chunk: number): [number, number] {
  const start = plan.segmentStart[segment];
  const end = plan.segmentStart[segment + 1];
  const lo = Math.min(end, start + chunk * plan.chunkElems);
  return [lo, Math.min(end, lo + plan.chunkElems)];
}

/**
 * At step g of the 2(N−1) steps (reduce-scatter for g < N−1, then all-gather), rank r sends segment
 * (r − g) mod N and receives segment (r − g − 1) mod N: what it received at step g is what it forwards
 * at step g + 1, which is what lets chunks stream around the ring without waiting for whole steps.
 */
export function sendSegment(rank: number, step: number, worldSize: number): number {
  return mod(rank - step, worldSize);
}

export function receiveSegment(rank: number, step: number, worldSize: number): number {
  return mod(rank - step - 1, worldSize);
}

/** Number of frames rank r receives during one all-reduce. */
export function framesToReceive(plan: RingPlan, rank: number): number {
  let n = 0;
  for (let g = 0; g < 2 * (plan.worldSize - 1); g++) n += plan.chunkCount[receiveSegment(rank, g, plan.worldSize)];
  return n;
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}
