import { describe, expect, it } from "vitest";
import { CaseCache } from "../../../src/data/cache.js";
import { InputError } from "../../../src/errors.js";

function counting() {
  const loads: number[] = [];
  const load = async (i: number) => {
    loads.push(i);
    return { index: i, payload: new Float32Array(4).fill(i) };
  };
  return { loads, load };
}

describe("CaseCache", () => {
  const table: [number, number, number][] = [
    [1, 10, 10],
    [0.5, 10, 5],
    [0.25, 6, 2],
    [0.01, 6, 1],
  ];
  for (const [rate, count, capacity] of table) {
    it(`rate ${rate} of ${count} cases keeps ${capacity}, re-loads the rest every time`, async () => {
      const { loads, load } = counting();
      const cache = new CaseCache(load, { caseCount: count, cacheRate: rate });
      expect(cache.capacity).toBe(capacity);
      for (let round = 0; round < 3; round++)
        for (let i = count - 1; i >= 0; i--) expect((await cache.get(i)).index).toBe(i);
      expect(cache.size).toBe(capacity);
      // Kept cases load once; the others once per round.
      expect(loads.length).toBe(capacity + (count - capacity) * 3);
      expect(cache.hits).toBe(capacity * 2);
    });
  }

  it("concurrent requests for one case share a single load", async () => {
    const { loads, load } = counting();
    const cache = new CaseCache(load, { caseCount: 4, cacheRate: 0.25 });
    await cache.get(0);
    const [a, b] = await Promise.all([cache.get(3), cache.get(3)]);
    expect(a).toBe(b);
    expect(loads).toEqual([0, 3]);
  });

  it("a failed load is not kept, so the next request retries", async () => {
    let fail = true;
    const cache = new CaseCache(
      async (i) => {
        if (fail) throw new Error("disk hiccup");
        return i;
      },
      { caseCount: 2, cacheRate: 1 },
    );
    await expect(cache.get(1)).rejects.toThrow(/disk hiccup/);
    fail = false;
    await expect(cache.get(1)).resolves.toBe(1);
  });

  it("rejects rates outside (0, 1] and indices outside the dataset", async () => {
    expect(() => new CaseCache(async () => 0, { caseCount: 3, cacheRate: 0 })).toThrow(InputError);
    expect(() => new CaseCache(async () => 0, { caseCount: 3, cacheRate: 1.5 })).toThrow(/--cache-rate/);
    await expect(new CaseCache(async () => 0, { caseCount: 3, cacheRate: 1 }).get(3)).rejects.toThrow(RangeError);
  });
});
