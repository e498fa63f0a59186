import { describe, expect, it } from "vitest";
import { Flip, RandFlip, RandFlipd } from "../../../../src/data/transforms/index.js";
import { Rng } from "../../../../src/random.js";
import { at, randomImage, randomLabels } from "../helpers.js";

describe("Flip", () => {
  const table: number[][] = [[0], [1], [2], [0, 2], [0, 1, 2], []];
  for (const axes of table) {
    it(`axes [${axes}] mirrors exactly those axes and is its own inverse`, () => {
      const img = randomImage(new Rng(axes.length + 1), [5, 4, 3], 2);
      const out = new Flip(axes).apply(img);
      for (const [x, y, z] of [
        [0, 0, 0],
        [1, 3, 2],
        [4, 2, 1],
      ]) {
        const src = [x, y, z].map((v, a) => (axes.includes(a) ? img.shape[a] - 1 - v : v));
        for (let c = 0; c < 2; c++) expect(at(out, x, y, z, c)).toBe(at(img, src[0], src[1], src[2], c));
      }
      expect(new Flip(axes).apply(out).data).toEqual(img.data);
    });
  }
  it("rejects an axis that is not spatial", () => {
    expect(() => new Flip([3])).toThrow(/Flip: axes must be among 0, 1, 2/);
  });
});

describe("RandFlip / RandFlipd", () => {
  it("prob 0 never flips, prob 1 always flips every allowed axis", () => {
    const img = randomImage(new Rng(1), [3, 3, 3], 1);
    expect(new RandFlip({ prob: 0 }).apply(img).data).toEqual(img.data);
    expect(new RandFlip({ prob: 1, axes: [1] }).apply(img).data).toEqual(new Flip([1]).apply(img).data);
  });
  it("keyed: the image and its label get the same flip, drawn once per call", () => {
    const rng = new Rng(2);
    const image = randomImage(rng, [6, 5, 4], 1);
    const label = randomLabels(rng, [6, 5, 4], 3);
    // Encode each voxel's label in the image so a mismatched flip shows.
    for (let i = 0; i < label.data.length; i++) image.data[i] = label.data[i];
    const t = new RandFlipd({ keys: ["image", "label"], prob: 0.5 }).setRandomState(3);
    const seen = new Set<string>();
    for (let k = 0; k < 30; k++) {
      const out = t.apply({ image, label });
      expect(Array.from(out.image.data)).toEqual(Array.from(out.label.data));
      seen.add(Array.from(out.label.data.subarray(0, 12)).join());
    }
    expect(seen.size).toBeGreaterThan(2);
  });
});
