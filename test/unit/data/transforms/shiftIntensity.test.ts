import { describe, expect, it } from "vitest";
import { RandShiftIntensity, RandShiftIntensityd, ShiftIntensity } from "../../../../src/data/transforms/index.js";
import { Rng } from "../../../../src/random.js";
import { randomImage, randomLabels } from "../helpers.js";

describe("ShiftIntensity / RandShiftIntensity", () => {
  const table: { offsets: number | number[]; want: number[] }[] = [
    { offsets: 0.5, want: [0.5, 0.5] },
    { offsets: [1, -2], want: [1, -2] },
  ];
  for (const t of table) {
    it(`adds ${JSON.stringify(t.offsets)} per channel`, () => {
      const img = randomImage(new Rng(1), [3, 4, 5], 2);
      const out = new ShiftIntensity(t.offsets).apply(img);
      for (let i = 0; i < img.data.length; i++) expect(out.data[i]).toBeCloseTo(img.data[i] + t.want[i % 2], 5);
    });
  }

  it("draws offsets within range; channel-wise draws differ per channel", () => {
    const img = randomImage(new Rng(2), [3, 3, 3], 2);
    const t = new RandShiftIntensity({ prob: 1, offsets: 0.2, channelWise: true }).setRandomState(3);
    for (let k = 0; k < 20; k++) {
      const out = t.apply(img);
      expect(t.drawn.length).toBe(2);
      expect(t.drawn[0]).not.toBe(t.drawn[1]);
      for (const d of t.drawn) expect(Math.abs(d)).toBeLessThanOrEqual(0.2);
      expect(out.data[1] - img.data[1]).toBeCloseTo(t.drawn[1], 5);
    }
    expect(new RandShiftIntensity({ prob: 0 }).apply(img)).toBe(img);
  });

  it("keyed: refuses a label map, naming transform and key", () => {
    const sample = { image: randomImage(new Rng(4), [2, 2, 2], 1), label: randomLabels(new Rng(5), [2, 2, 2], 2) };
    expect(() => new RandShiftIntensityd({ keys: ["label"], prob: 1 }).apply(sample)).toThrow(
      /ShiftIntensity\[label\]: needs a float32 image/,
    );
    expect(() => new ShiftIntensity([1, 2, 3]).apply(sample.image)).toThrow(/3 offsets for 1 channels/);
  });
});
