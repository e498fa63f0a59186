import { describe, expect, it } from "vitest";
import { RandRotate90d, Rotate90 } from "../../../../src/data/transforms/index.js";
import { Rng } from "../../../../src/random.js";
import { at, randomImage, randomLabels } from "../helpers.js";

describe("Rotate90", () => {
  const table = [0, 1, 2, 3, 4, -1];
  for (const k of table) {
    it(`k=${k}: shape and voxel mapping follow (x, y) → (Y−1−y, x) per turn`, () => {
      const img = randomImage(new Rng(k + 10), [5, 3, 2], 2);
      const out = new Rotate90(k).apply(img);
      const turns = ((k % 4) + 4) % 4;
      expect(out.shape).toEqual(turns % 2 ? [3, 5, 2] : [5, 3, 2]);
      for (const [x, y, z] of [
        [0, 0, 0],
        [4, 2, 1],
        [2, 1, 1],
      ]) {
        let [px, py] = [x, y];
        let [X, Y] = [5, 3];
        for (let t = 0; t < turns; t++) {
          [px, py] = [Y - 1 - py, px];
          [X, Y] = [Y, X];
        }
        for (let c = 0; c < 2; c++) expect(at(out, px, py, z, c)).toBe(at(img, x, y, z, c));
      }
    });
  }
  it("four quarter turns are the identity, and a non-integer k is refused", () => {
    const img = randomImage(new Rng(1), [4, 4, 3], 1);
    expect(new Rotate90(1).apply(new Rotate90(3).apply(img)).data).toEqual(img.data);
    expect(() => new Rotate90(1.5)).toThrow(/Rotate90: k must be an integer/);
  });
  it("keyed: same turn for image and label", () => {
    const rng = new Rng(3);
    const label = randomLabels(rng, [6, 6, 2], 3);
    const image = randomImage(rng, [6, 6, 2], 1);
    for (let i = 0; i < label.data.length; i++) image.data[i] = label.data[i];
    const t = new RandRotate90d({ keys: ["image", "label"], prob: 1 }).setRandomState(4);
    for (let k = 0; k < 10; k++) {
      const out = t.apply({ image, label });
      expect(Array.from(out.image.data)).toEqual(Array.from(out.label.data));
    }
  });
});
