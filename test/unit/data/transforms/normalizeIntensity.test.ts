import { describe, expect, it } from "vitest";
import { NormalizeIntensity, NormalizeIntensityd } from "../../../../src/data/transforms/index.js";
import { Rng } from "../../../../src/random.js";
import { randomImage, randomLabels } from "../helpers.js";

function stats(data: Float32Array, C: number, c: number, skipZero: boolean) {
  const values: number[] = [];
  for (let i = c; i < data.length; i += C) if (!skipZero || data[i] !== 0) values.push(data[i]);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { mean, std };
}

describe("NormalizeIntensity", () => {
  const table = [
    { name: "nonzero, with zero background", nonzero: true, zeros: 0.3 },
    { name: "all voxels", nonzero: false, zeros: 0.3 },
    { name: "nonzero, no zeros", nonzero: true, zeros: 0 },
  ];
  for (const t of table) {
    it(`${t.name}: mean 0 and std 1 per channel over the chosen voxels`, () => {
      const rng = new Rng(7);
      const img = randomImage(rng, [9, 7, 5], 2);
      for (let i = 0; i < img.data.length; i++)
        img.data[i] = rng.next() < t.zeros ? 0 : 300 + 80 * img.data[i] * (1 + (i % 2));
      const out = new NormalizeIntensity({ nonzero: t.nonzero }).apply(img);
      for (let c = 0; c < 2; c++) {
        const s = stats(out.data as Float32Array, 2, c, t.nonzero);
        expect(s.mean).toBeCloseTo(0, 4);
        expect(s.std).toBeCloseTo(1, 4);
      }
      if (t.nonzero) for (let i = 0; i < img.data.length; i++) if (img.data[i] === 0) expect(out.data[i]).toBe(0);
    });
  }

  it("a constant channel is only shifted, never divided by zero", () => {
    const img = randomImage(new Rng(1), [3, 3, 3], 1);
    img.data.fill(5);
    const out = new NormalizeIntensity({ nonzero: false }).apply(img);
    expect(Array.from(new Set(out.data))).toEqual([0]);
  });

  it("keyed version leaves other keys alone and rejects a label map", () => {
    const rng = new Rng(2);
    const sample = { image: randomImage(rng, [4, 4, 4], 2), label: randomLabels(rng, [4, 4, 4], 3) };
    const out = new NormalizeIntensityd({ keys: ["image"] }).apply(sample);
    expect(out.label).toBe(sample.label);
    expect(() => new NormalizeIntensityd({ keys: ["label"] }).apply(sample)).toThrow(
      /NormalizeIntensity\[label\]: needs a float32 image/,
    );
  });
});
