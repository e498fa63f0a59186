import { describe, expect, it } from "vitest";
import { Spacing, Spacingd } from "../../../../src/data/transforms/index.js";
import { InputError } from "../../../../src/errors.js";
import { Rng } from "../../../../src/random.js";
import { at, randomImage, randomLabels } from "../helpers.js";

describe("Spacing / Spacingd", () => {
  const table: {
    name: string;
    spacing: [number, number, number];
    pixdim: number[];
    shape: [number, number, number];
    want: number[];
  }[] = [
    {
      name: "Task05-like to 1 mm",
      spacing: [0.625, 0.625, 3.6],
      pixdim: [1, 1, 1],
      shape: [17, 15, 4],
      want: [11, 9, 11],
    },
    { name: "already 1 mm", spacing: [1, 1, 1], pixdim: [1, 1, 1], shape: [5, 4, 3], want: [5, 4, 3] },
    { name: "coarser", spacing: [1, 1, 1], pixdim: [2, 2, 1.5], shape: [9, 8, 7], want: [5, 4, 5] },
  ];
  for (const t of table) {
    it(`${t.name}: shape ${t.want.join("×")}, values interpolate the input`, () => {
      const img = randomImage(new Rng(1), t.shape, 2, t.spacing);
      const out = new Spacing({ pixdim: t.pixdim }).apply(img);
      expect(out.shape).toEqual(t.want);
      expect(out.spacing).toEqual(t.pixdim);
      // Voxel 0 is shared, and the last voxel along each axis never passes the input's extent.
      expect(at(out, 0, 0, 0, 1)).toBeCloseTo(at(img, 0, 0, 0, 1), 5);
      if (t.spacing.every((s, a) => s === t.pixdim[a])) expect(out.data).toEqual(img.data);
    });
  }

  it("keyed: linear for the image, nearest for the label, same grid for both", () => {
    const rng = new Rng(2);
    const sample = {
      image: randomImage(rng, [9, 7, 3], 2, [0.7, 0.7, 3]),
      label: randomLabels(rng, [9, 7, 3], 3, [0.7, 0.7, 3]),
    };
    const out = new Spacingd({ keys: ["image", "label"] }).apply(sample);
    expect(out.label.shape).toEqual(out.image.shape);
    expect(out.label.data).toBeInstanceOf(Uint8Array);
    expect(new Set(out.label.data)).toEqual(new Set([0, 1, 2]));
    const half = new Spacingd({ keys: ["label"], mode: "linear" }).apply(sample);
    expect(half.label.data).toBeInstanceOf(Uint8Array);
  });

  it("errors name the transform and the key", () => {
    expect(() =>
      new Spacingd({ keys: ["image", "mask"] }).apply({ image: randomImage(new Rng(3), [3, 3, 3], 1) }),
    ).toThrow(/Spacingd: key "mask" is missing/);
    expect(() => new Spacing({ pixdim: [1, 0, 1] })).toThrow(InputError);
  });
});
