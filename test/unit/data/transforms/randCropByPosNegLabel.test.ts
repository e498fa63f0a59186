import { describe, expect, it } from "vitest";
import { RandCropByPosNegLabeld } from "../../../../src/data/transforms/index.js";
import type { Volume } from "../../../../src/data/volume.js";
import { Rng } from "../../../../src/random.js";
import { at, randomImage } from "../helpers.js";

function sparseLabels(shape: [number, number, number], voxels: [number, number, number][]): Volume<Uint8Array> {
  const data = new Uint8Array(shape[0] * shape[1] * shape[2]);
  for (const [x, y, z] of voxels) data[(z * shape[1] + y) * shape[0] + x] = 2;
  return {
    data,
    shape,
    channels: 1,
    spacing: [1, 1, 1],
    affine: [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ],
  };
}

describe("RandCropByPosNegLabeld", () => {
  const shape: [number, number, number] = [31, 27, 13];
  const table = [
    { name: "pos only: every patch holds the foreground voxel", pos: 1, neg: 0, wantFgShare: [1, 1] },
    { name: "neg only: background-centred patches", pos: 0, neg: 1, wantFgShare: [0, 0] },
    { name: "1:1 ratio", pos: 1, neg: 1, wantFgShare: [0.35, 0.65] },
  ];
  for (const t of table) {
    it(t.name, () => {
      const label = sparseLabels(shape, [[25, 3, 10]]);
      const image = randomImage(new Rng(1), shape, 2);
      const crop = new RandCropByPosNegLabeld({
        keys: ["image", "label"],
        labelKey: "label",
        spatialSize: [8, 6, 4],
        pos: t.pos,
        neg: t.neg,
      }).setRandomState(5);
      let fg = 0;
      const n = 200;
      for (let i = 0; i < n; i++) {
        const out = crop.apply({ image, label });
        expect(out.image.shape).toEqual([8, 6, 4]);
        expect(out.label.shape).toEqual([8, 6, 4]);
        const [sx, sy, sz] = crop.start;
        expect(at(out.image, 2, 1, 3, 1)).toBe(at(image, sx + 2, sy + 1, sz + 3, 1));
        if (crop.foreground) {
          fg++;
          expect(out.label.data.includes(2)).toBe(true);
        }
      }
      expect(fg / n).toBeGreaterThanOrEqual(t.wantFgShare[0]);
      expect(fg / n).toBeLessThanOrEqual(t.wantFgShare[1]);
    });
  }

  it("pads with zeros, centred, when the volume is smaller than the patch", () => {
    const small: [number, number, number] = [4, 3, 2];
    const label = sparseLabels(small, [[1, 1, 1]]);
    const image = randomImage(new Rng(2), small, 1);
    const crop = new RandCropByPosNegLabeld({
      keys: ["image", "label"],
      labelKey: "label",
      spatialSize: [8, 7, 4],
    }).setRandomState(1);
    const out = crop.apply({ image, label });
    expect(crop.start).toEqual([-2, -2, -1]);
    expect(at(out.image, 2, 2, 1)).toBe(at(image, 0, 0, 0));
    expect(at(out.image, 0, 0, 0)).toBe(0);
    expect(at(out.label, 3, 3, 2)).toBe(2);
  });

  it("same seed, same patches; names a missing label key", () => {
    const label = sparseLabels(shape, [
      [5, 5, 5],
      [20, 20, 8],
    ]);
    const image = randomImage(new Rng(3), shape, 1);
    const make = () =>
      new RandCropByPosNegLabeld({
        keys: ["image", "label"],
        labelKey: "label",
        spatialSize: [5, 5, 3],
      }).setRandomState(9);
    const [a, b] = [make(), make()];
    for (let i = 0; i < 5; i++)
      expect(a.apply({ image, label }).image.data).toEqual(b.apply({ image, label }).image.data);
    expect(() => make().apply({ image })).toThrow(/RandCropByPosNegLabeld: key "label" is missing/);
  });
});
