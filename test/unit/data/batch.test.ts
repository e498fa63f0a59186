import { describe, expect, it } from "vitest";
import { BatchSampler } from "../../../src/data/batch.js";
import type { PreprocessedCase } from "../../../src/data/preprocess.js";
import { Rng } from "../../../src/random.js";

/** A case whose voxel values encode their own position and label, so a patch can be traced back. */
function tracedCase(id: string, shape: [number, number, number], offset: number): PreprocessedCase {
  const [X, Y, Z] = shape;
  const voxels = X * Y * Z;
  const data = new Float32Array(voxels * 2);
  const labels = new Uint8Array(voxels);
  for (let v = 0; v < voxels; v++) {
    labels[v] = v % 7 === 0 ? 1 + (v % 2) : 0;
    data[v * 2] = offset + v;
    data[v * 2 + 1] = labels[v];
  }
  return {
    id,
    data,
    labels,
    shape,
    channels: 2,
    spacing: [1, 1, 1],
    affine: [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ],
  };
}

describe("BatchSampler", () => {
  const table: { patch: [number, number, number]; batch: number; cases: number }[] = [
    { patch: [6, 6, 4], batch: 2, cases: 2 },
    { patch: [5, 7, 3], batch: 3, cases: 1 },
    { patch: [12, 12, 8], batch: 1, cases: 2 },
  ];
  for (const t of table) {
    it(`patch ${t.patch.join("×")}, batch ${t.batch} from ${t.cases} case(s): [B, Z, Y, X, C] and matching labels`, () => {
      const cases = Array.from({ length: t.cases }, (_, i) => tracedCase(`c${i}`, [10, 9, 6], i * 1e5));
      const sampler = new BatchSampler({ patch: t.patch, rotateProb: 0, shiftProb: 0 });
      const batch = sampler.sample(cases, t.batch, new Rng(4));
      const voxels = t.patch[0] * t.patch[1] * t.patch[2];
      expect(batch.images.length).toBe(t.batch * voxels * 2);
      expect(batch.labels.length).toBe(t.batch * voxels);
      expect(batch.labels).toBeInstanceOf(Int32Array);
      for (let b = 0; b < t.batch; b++) {
        for (let v = 0; v < voxels; v++) {
          const image = batch.images[(b * voxels + v) * 2];
          // Padding (patch bigger than the case) is zero in both; otherwise channel 1 carries the label.
          expect(batch.images[(b * voxels + v) * 2 + 1]).toBe(batch.labels[b * voxels + v]);
          if (image !== 0) expect(Math.floor(image / 1e5)).toBe(b % t.cases);
        }
      }
    });
  }

  it("the same generator state draws the same batch", () => {
    const cases = [tracedCase("a", [10, 9, 6], 0)];
    const sampler = new BatchSampler({ patch: [4, 4, 4] });
    const rng = new Rng(8);
    const state = rng.getState();
    const first = sampler.sample(cases, 2, rng);
    const second = sampler.sample(cases, 2, rng);
    expect(second.images).not.toEqual(first.images);
    rng.setState(state);
    expect(sampler.sample(cases, 2, rng).images).toEqual(first.images);
  });
});
