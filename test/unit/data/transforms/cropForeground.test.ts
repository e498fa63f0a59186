import { describe, expect, it } from "vitest";
import { CropForeground, CropForegroundd, foregroundBox } from "../../../../src/data/transforms/index.js";
import { Rng } from "../../../../src/random.js";
import { at, randomImage, randomLabels } from "../helpers.js";

describe("CropForeground", () => {
  const table: { name: string; box: [number[], number[]] | null; margin: number; want: [number[], number[]] | null }[] =
    [
      {
        name: "inner box",
        box: [
          [2, 1, 1],
          [5, 4, 3],
        ],
        margin: 0,
        want: [
          [2, 1, 1],
          [4, 4, 3],
        ],
      },
      {
        name: "margin clamped at the border",
        box: [
          [1, 0, 2],
          [3, 2, 4],
        ],
        margin: 2,
        want: [
          [0, 0, 0],
          [6, 5, 5],
        ],
      },
      { name: "nothing to crop around", box: null, margin: 0, want: null },
    ];
  for (const t of table) {
    it(t.name, () => {
      const img = randomImage(new Rng(3), [8, 7, 5], 2);
      img.data.fill(-1);
      if (t.box) {
        const [lo, hi] = t.box;
        // Only one channel positive at the corners: "any channel > 0" counts.
        img.data[((lo[2] * 7 + lo[1]) * 8 + lo[0]) * 2 + 1] = 1;
        img.data[((hi[2] * 7 + hi[1]) * 8 + hi[0]) * 2] = 1;
      }
      const box = foregroundBox(img, t.margin);
      expect(box ? [box.start, box.size] : null).toEqual(t.want);
      const out = new CropForeground({ margin: t.margin }).apply(img);
      if (!t.want) expect(out).toBe(img);
      else {
        expect(out.shape).toEqual(t.want[1]);
        expect(at(out, 0, 0, 0, 1)).toBe(at(img, t.want[0][0], t.want[0][1], t.want[0][2], 1));
        // The affine follows: voxel 0 of the crop is voxel `start` of the original.
        expect(out.affine[0][3]).toBe(t.want[0][0]);
      }
    });
  }

  it("keyed: crops the label with the image's box and names a mismatched key", () => {
    const rng = new Rng(4);
    const image = randomImage(rng, [6, 6, 4], 1);
    image.data.fill(0);
    image.data[(2 * 6 + 3) * 6 + 1] = 5;
    const label = randomLabels(rng, [6, 6, 4], 3);
    const out = new CropForegroundd({ keys: ["image", "label"], sourceKey: "image" }).apply({ image, label });
    expect(out.label.shape).toEqual([1, 1, 1]);
    expect(out.label.data[0]).toBe(label.data[(2 * 6 + 3) * 6 + 1]);
    const small = randomLabels(rng, [5, 6, 4], 3);
    expect(() => new CropForegroundd({ keys: ["label"], sourceKey: "image" }).apply({ image, label: small })).toThrow(
      /CropForegroundd\[label\]: shape 5×6×4 differs/,
    );
  });
});
