import { describe, expect, it } from "vitest";
import {
  labelsToOriginalGrid,
  resampledSize,
  resampleLinear,
  resampleNearest,
  resampleVolume,
  spacingGrid,
} from "../../../src/data/resample.js";
import type { Shape3 } from "../../../src/data/volume.js";
import { Rng } from "../../../src/random.js";
import { randomImage, randomLabels } from "./helpers.js";

/** Trilinear interpolation straight from the definition, one output voxel at a time. */
function naiveTrilinear(src: Float32Array, shape: Shape3, C: number, out: Shape3, step: number[]): Float64Array {
  const res = new Float64Array(out[0] * out[1] * out[2] * C);
  const get = (x: number, y: number, z: number, c: number) => src[((z * shape[1] + y) * shape[0] + x) * C + c];
  let o = 0;
  for (let z = 0; z < out[2]; z++)
    for (let y = 0; y < out[1]; y++)
      for (let x = 0; x < out[0]; x++) {
        const p = [x * step[0], y * step[1], z * step[2]].map((v, a) => Math.min(v, shape[a] - 1));
        const f = p.map((v, a) => Math.min(Math.floor(v), Math.max(shape[a] - 2, 0)));
        const w = p.map((v, a) => v - f[a]);
        for (let c = 0; c < C; c++) {
          let sum = 0;
          for (let dz = 0; dz < 2; dz++)
            for (let dy = 0; dy < 2; dy++)
              for (let dx = 0; dx < 2; dx++) {
                const weight = (dx ? w[0] : 1 - w[0]) * (dy ? w[1] : 1 - w[1]) * (dz ? w[2] : 1 - w[2]);
                if (weight === 0) continue;
                sum += weight * get(f[0] + dx, f[1] + dy, f[2] + dz, c);
              }
          res[o++] = sum;
        }
      }
  return res;
}

describe("resampleLinear (separable) equals direct trilinear interpolation", () => {
  const table: [Shape3, number, number[]][] = [
    [[7, 5, 3], 2, [0.625, 0.625, 3.6]],
    [[11, 9, 6], 1, [1.6, 1.3, 0.7]],
    [[5, 13, 4], 3, [0.37, 2.1, 1]],
    [[9, 1, 5], 2, [0.5, 1, 2.5]],
  ];
  for (const [shape, C, step] of table) {
    it(`${shape.join("×")}×${C}, step ${step.join(", ")}`, () => {
      const src = randomImage(new Rng(shape[0]), shape, C).data;
      const out = [0, 1, 2].map((a) => resampledSize(shape[a], step[a])) as Shape3;
      const fast = resampleLinear(src, shape, C, out, step);
      const slow = naiveTrilinear(src, shape, C, out, step);
      expect(fast.length).toBe(slow.length);
      for (let i = 0; i < slow.length; i++) expect(fast[i]).toBeCloseTo(slow[i], 4);
    });
  }
});

describe("grids", () => {
  it("sizes keep every sample inside the input extent", () => {
    expect(resampledSize(20, 1 / 3.6)).toBe(69);
    expect(resampledSize(320, 1 / 0.625)).toBe(200);
    expect(resampledSize(1, 0.5)).toBe(1);
    const { outShape, step } = spacingGrid([320, 320, 20], [0.625, 0.625, 3.6], [1, 1, 1]);
    expect(outShape).toEqual([200, 200, 69]);
    for (let a = 0; a < 3; a++) expect((outShape[a] - 1) * step[a]).toBeLessThanOrEqual([319, 319, 19][a] + 1e-9);
  });

  it("resampleVolume keeps world positions: new affine = old affine at the sampled voxel", () => {
    const img = randomImage(new Rng(2), [9, 8, 4], 1, [0.7, 0.7, 3]);
    img.affine = [
      [0, -0.7, 0, 10],
      [0.7, 0, 0, -5],
      [0, 0, 3, 2],
      [0, 0, 0, 1],
    ];
    const out = resampleVolume(img, [1, 1, 1]);
    const world = (a: number[][], p: number[]) =>
      [0, 1, 2].map((r) => a[r][0] * p[0] + a[r][1] * p[1] + a[r][2] * p[2] + a[r][3]);
    const p = [3, 2, 5];
    const step = [1 / 0.7, 1 / 0.7, 1 / 3];
    const w1 = world(out.affine, p);
    const w0 = world(
      img.affine,
      p.map((v, a) => v * step[a]),
    );
    for (let i = 0; i < 3; i++) expect(w1[i]).toBeCloseTo(w0[i], 9);
    expect(out.spacing).toEqual([1, 1, 1]);
  });
});

describe("nearest neighbour for label maps", () => {
  it("only produces values present in the input and picks the closest voxel", () => {
    const labels = randomLabels(new Rng(4), [6, 5, 4], 3);
    const out = resampleNearest(labels.data, labels.shape, [4, 7, 9], [1.5, 0.6, 0.4]);
    for (let z = 0; z < 9; z++)
      for (let y = 0; y < 7; y++)
        for (let x = 0; x < 4; x++) {
          const src = [Math.round(x * 1.5), Math.round(y * 0.6), Math.round(z * 0.4)].map((v, a) =>
            Math.min(v, labels.shape[a] - 1),
          );
          expect(out[(z * 7 + y) * 4 + x]).toBe(labels.data[(src[2] * 5 + src[1]) * 6 + src[0]]);
        }
  });

  it("maps a mask on the 1 mm grid back onto the input grid exactly when the 1 mm grid is finer", () => {
    const shape: Shape3 = [13, 11, 5];
    const spacing: Shape3 = [1.25, 1.25, 3.6];
    const labels = randomLabels(new Rng(9), shape, 3, spacing);
    const fine = resampleVolume(labels, [1, 1, 1]);
    expect(fine.data).toBeInstanceOf(Uint8Array);
    const back = labelsToOriginalGrid(fine.data, fine.shape, [1, 1, 1], shape, spacing);
    // |round(j·s) − j·s| ≤ 0.5 fine voxels is < 0.5 original voxels when s > 1: every voxel comes back.
    expect(back).toEqual(labels.data);
  });
});
