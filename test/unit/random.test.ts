import { describe, expect, it } from "vitest";
import { Rng } from "../../src/random.js";

describe("Rng", () => {
  it("repeats a stream for the same seed and differs for another", () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const c = new Rng(8);
    const sa = Array.from({ length: 16 }, () => a.nextUint32());
    expect(Array.from({ length: 16 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 16 }, () => c.nextUint32())).not.toEqual(sa);
  });

  it("resumes exactly from a saved state", () => {
    const a = new Rng(123);
    for (let i = 0; i < 10; i++) a.next();
    const saved = a.getState();
    const expected = Array.from({ length: 8 }, () => a.next());
    const b = new Rng(0);
    b.setState(saved);
    expect(Array.from({ length: 8 }, () => b.next())).toEqual(expected);
  });

  it("draws uniform values in range with a plausible mean, and normals with unit variance", () => {
    const r = new Rng(1);
    const n = 20000;
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      sum += u;
      const z = r.normal();
      sumSq += z * z;
    }
    expect(sum / n).toBeCloseTo(0.5, 1);
    expect(sumSq / n).toBeCloseTo(1, 1);
  });

  it("shuffles into a permutation", () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = new Rng(3).shuffle([...items]);
    expect(shuffled).not.toEqual(items);
    expect([...shuffled].sort((x, y) => x - y)).toEqual(items);
  });
});
