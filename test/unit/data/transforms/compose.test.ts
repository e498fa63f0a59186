import { describe, expect, it } from "vitest";
import { Compose, RandFlipd, RandShiftIntensityd, trainingTransforms } from "../../../../src/data/transforms/index.js";
import { Rng } from "../../../../src/random.js";
import { randomImage, randomLabels } from "../helpers.js";

function sample(seed: number) {
  const rng = new Rng(seed);
  return { image: randomImage(rng, [20, 18, 9], 2), label: randomLabels(rng, [20, 18, 9], 3) };
}

describe("Compose", () => {
  it("one seed fixes the whole chain; another seed changes it", () => {
    const s = sample(1);
    const run = (seed: number) =>
      trainingTransforms({ patch: [8, 8, 4] })
        .setRandomState(seed)
        .apply(s).image.data;
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });

  it("seeds each child from its own generator: appending a child leaves the earlier ones' draws alone", () => {
    const s = sample(2);
    const flip = () => new RandFlipd({ keys: ["image", "label"], prob: 0.5 });
    const a = new Compose([flip()]).setRandomState(3);
    const b = new Compose([flip(), new RandShiftIntensityd({ keys: ["image"], prob: 0 })]).setRandomState(3);
    for (let k = 0; k < 5; k++) expect(a.apply(s).label.data).toEqual(b.apply(s).label.data);
  });

  it("the training chain yields patch-shaped image and label with labels from the input", () => {
    const out = trainingTransforms({ patch: [10, 10, 6] })
      .setRandomState(1)
      .apply(sample(3));
    expect(out.image.shape).toEqual([10, 10, 6]);
    expect(out.label.shape).toEqual([10, 10, 6]);
    expect(out.image.data.length).toBe(10 * 10 * 6 * 2);
    expect(Math.max(...out.label.data)).toBeLessThanOrEqual(2);
  });
});
