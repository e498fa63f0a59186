import { describe, expect, it } from "vitest";
import { RandRotated, Rotate, Rotate90 } from "../../../../src/data/transforms/index.js";
import { Rng } from "../../../../src/random.js";
import { at, randomImage, randomLabels } from "../helpers.js";

describe("Rotate (in-plane, any angle)", () => {
  it("by ±90° on a square plane equals a quarter turn (linear and nearest)", () => {
    const img = randomImage(new Rng(1), [7, 7, 3], 2);
    const labels = randomLabels(new Rng(2), [7, 7, 3], 3);
    const quarter = new Rotate90(1).apply(img);
    const byAngle = [new Rotate(Math.PI / 2).apply(img), new Rotate(-Math.PI / 2).apply(img)];
    const match = byAngle.find((r) => Math.abs(at(r, 1, 0, 0) - at(quarter, 1, 0, 0)) < 1e-4)!;
    expect(match).toBeTruthy();
    for (let i = 0; i < img.data.length; i++) expect(match.data[i]).toBeCloseTo(quarter.data[i], 4);
    const sign = match === byAngle[0] ? 1 : -1;
    expect(new Rotate((sign * Math.PI) / 2).apply(labels).data).toEqual(new Rotate90(1).apply(labels).data);
  });

  const table = [0.05, -0.2, 0.26];
  for (const angle of table) {
    it(`${angle} rad keeps the shape, the centre voxel, and label values in the label set`, () => {
      const img = randomImage(new Rng(3), [9, 9, 2], 1);
      const out = new Rotate(angle).apply(img);
      expect(out.shape).toEqual(img.shape);
      expect(at(out, 4, 4, 1)).toBeCloseTo(at(img, 4, 4, 1), 5);
      const labels = randomLabels(new Rng(4), [9, 9, 2], 3);
      const rl = new Rotate(angle).apply(labels);
      expect(rl.data).toBeInstanceOf(Uint8Array);
      expect(Array.from(rl.data).every((v) => v <= 2)).toBe(true);
      // A linear image stays within the input's range (convex combinations, border clamp).
      const [lo, hi] = [Math.min(...img.data), Math.max(...img.data)];
      expect(Math.min(...out.data)).toBeGreaterThanOrEqual(lo - 1e-5);
      expect(Math.max(...out.data)).toBeLessThanOrEqual(hi + 1e-5);
    });
  }

  it("keyed: image and label rotate by the same drawn angle", () => {
    const rng = new Rng(5);
    const label = randomLabels(rng, [8, 8, 2], 3);
    const image = randomImage(rng, [8, 8, 2], 1);
    for (let i = 0; i < label.data.length; i++) image.data[i] = label.data[i];
    const t = new RandRotated({ keys: ["image", "label"], prob: 1, range: 0.3 }).setRandomState(6);
    const out = t.apply({ image, label });
    expect(t.angle).not.toBe(0);
    const nearestOfImage = new Rotate(t.angle, "nearest").apply(image);
    expect(Array.from(nearestOfImage.data)).toEqual(Array.from(out.label.data));
  });
});
