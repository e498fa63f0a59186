import { RingAllReduce, type RingOpenOptions } from "../../../src/comm/ring.js";
import { encodeHeader, FrameKind, WireType } from "../../../src/comm/ringFrame.js";

/**
 * N ranks of one ring inside this process, on loopback (Unix sockets), so large fp32 all-reduces go through
 * shared memory unless `options.sharedMemory` is false.
 */
export async function openRing(worldSize: number, options: RingOpenOptions = {}): Promise<RingAllReduce[]> {
  if (worldSize === 1) {
    const solo = RingAllReduce.solo();
    await solo.join({ rank: 0, worldSize: 1 });
    return [solo];
  }
  const rings = await Promise.all(Array.from({ length: worldSize }, () => RingAllReduce.open(options)));
  await Promise.all(
    rings.map((ring, rank) => ring.join({ rank, worldSize, next: rings[(rank + 1) % worldSize].endpoint })),
  );
  return rings;
}

export function closeAll(rings: RingAllReduce[]): void {
  for (const ring of rings) ring.close();
}

/**
 * The header of a frame the first collective of generation 0 would accept (an fp32 all-reduce's step 0,
 * chunk 0, 4000 bytes), for forgers; `overrides` make it wrong in one field.
 */
export function forgedHeader(overrides: Partial<Parameters<typeof encodeHeader>[0]> = {}): Buffer {
  return encodeHeader({
    generation: 0,
    op: 0,
    kind: FrameKind.allReduce,
    wire: WireType.f32,
    step: 0,
    chunk: 0,
    bytes: 4000,
    ...overrides,
  });
}
