import { describe, expect, it } from "vitest";
import { shardEpoch, stepsOfShard } from "../../../src/data/sharding.js";
import { InputError } from "../../../src/errors.js";

describe("shardEpoch", () => {
  const table: [number, number][] = [
    [21, 4],
    [32, 4],
    [5, 2],
    [3, 5],
    [7, 1],
  ];
  for (const [cases, world] of table) {
    it(`${cases} cases over ${world} ranks: equal lengths, every case, disjoint up to wrap-around padding`, () => {
      const shards = shardEpoch(cases, world, 3, 42);
      expect(shards.length).toBe(world);
      const length = Math.ceil(cases / world);
      for (const s of shards) expect(s.length).toBe(length);
      const all = shards.flat();
      expect(new Set(all)).toEqual(new Set(Array.from({ length: cases }, (_, i) => i)));
      // Only the padding repeats cases: exactly length·world − cases extra entries.
      expect(all.length - new Set(all).size).toBe(length * world - cases);
      for (const s of shards) for (const i of s) expect(Number.isInteger(i) && i >= 0 && i < cases).toBe(true);
    });
  }

  it("same (seed, epoch) same shards on every rank; epochs and seeds reshuffle", () => {
    expect(shardEpoch(32, 4, 0, 1)).toEqual(shardEpoch(32, 4, 0, 1));
    expect(shardEpoch(32, 4, 0, 1)).not.toEqual(shardEpoch(32, 4, 1, 1));
    expect(shardEpoch(32, 4, 0, 1)).not.toEqual(shardEpoch(32, 4, 0, 2));
  });

  it("refuses nonsense", () => {
    expect(() => shardEpoch(0, 2, 0, 1)).toThrow(InputError);
    expect(() => shardEpoch(4, 0, 0, 1)).toThrow(/worldSize/);
    expect(() => shardEpoch(4, 2, -1, 1)).toThrow(/epoch/);
  });
});

describe("stepsOfShard", () => {
  const table: [number[], number, number[][]][] = [
    [
      [4, 1, 3],
      2,
      [
        [4, 1],
        [3, 4],
      ],
    ],
    [
      [4, 1, 3, 0],
      2,
      [
        [4, 1],
        [3, 0],
      ],
    ],
    [[5], 3, [[5, 5, 5]]],
    [[], 2, []],
  ];
  for (const [shard, batch, want] of table) {
    it(`[${shard}] in batches of ${batch}`, () => expect(stepsOfShard(shard, batch)).toEqual(want));
  }
});
