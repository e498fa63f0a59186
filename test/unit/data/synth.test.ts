import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDecathlon } from "../../../src/data/decathlon.js";
import { loadCase } from "../../../src/data/loadCase.js";
import { preprocessCase } from "../../../src/data/preprocess.js";
import { writeSyntheticDataset } from "../../../src/data/synth/dataset.js";
import { tempDir } from "./helpers.js";

const root = tempDir();
afterAll(() => rmSync(root, { recursive: true, force: true }));

function quantile(values: Float32Array | number[], q: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

describe("writeSyntheticDataset", () => {
  it("same seed, same bytes; another seed, other bytes", async () => {
    const [a, b, c] = ["a", "b", "c"].map((n) => join(root, n));
    await writeSyntheticDataset(a, { cases: 1, seed: 3 });
    await writeSyntheticDataset(b, { cases: 1, seed: 3 });
    await writeSyntheticDataset(c, { cases: 1, seed: 4 });
    for (const f of ["dataset.json", "imagesTr/prostate_00.nii.gz", "labelsTr/prostate_00.nii.gz"]) {
      expect(readFileSync(join(a, f)).equals(readFileSync(join(b, f)))).toBe(true);
    }
    expect(
      readFileSync(join(a, "imagesTr/prostate_00.nii.gz")).equals(readFileSync(join(c, "imagesTr/prostate_00.nii.gz"))),
    ).toBe(false);
  });

  it("looks like Task05: layout, names, geometry, and a gland a small U-Net can find", async () => {
    const dir = join(root, "a");
    const ds = await loadDecathlon(dir);
    expect(ds.channels).toEqual(["T2", "ADC"]);
    expect(ds.labels).toEqual(["background", "PZ", "TZ"]);
    expect(JSON.parse(readFileSync(join(dir, "dataset.json"), "utf8")).training[0].image).toBe(
      "./imagesTr/prostate_00.nii.gz",
    );
    const raw = await loadCase(ds, ds.cases[0]);
    const [X, Y, Z] = raw.image.shape;
    expect(Y).toBe(X);
    expect(X).toBeGreaterThanOrEqual(256);
    expect(X).toBeLessThanOrEqual(320);
    expect(Z).toBeGreaterThanOrEqual(15);
    expect(Z).toBeLessThanOrEqual(24);
    expect(raw.image.spacing[0]).toBeGreaterThan(0.5);
    expect(raw.image.spacing[0]).toBeLessThan(0.75);
    expect(raw.image.spacing[2]).toBeGreaterThan(2.9);
    expect(raw.image.spacing[2]).toBeLessThan(4.1);

    const pre = await preprocessCase(ds, ds.cases[0]);
    const [px, py] = pre.shape;
    let [x0, x1, y0, y1] = [px, -1, py, -1];
    const t2: Record<number, number[]> = { 0: [], 1: [], 2: [] };
    for (let v = 0; v < pre.labels.length; v++) {
      const l = pre.labels[v];
      if (v % 3 === 0 || l > 0) t2[l].push(pre.data[v * 2]);
      if (l === 0) continue;
      const x = v % px;
      const y = Math.floor(v / px) % py;
      [x0, x1, y0, y1] = [Math.min(x0, x), Math.max(x1, x), Math.min(y0, y), Math.max(y1, y)];
    }
    // After resampling to 1 mm the gland spans ~30–60 mm in-plane.
    for (const span of [x1 - x0 + 1, y1 - y0 + 1]) {
      expect(span).toBeGreaterThanOrEqual(24);
      expect(span).toBeLessThanOrEqual(64);
    }
    expect(t2[1].length).toBeGreaterThan(1000);
    expect(t2[2].length).toBeGreaterThan(1000);
    // Not separable by a threshold: many background voxels fall inside each zone's central T2 range.
    for (const zone of [1, 2]) {
      const [lo, hi] = [quantile(t2[zone], 0.1), quantile(t2[zone], 0.9)];
      const inside = t2[0].filter((v) => v >= lo && v <= hi).length;
      expect(inside).toBeGreaterThan(0.05 * t2[zone].length);
    }
  });

  it("refuses a bad case count or seed, naming the option", async () => {
    await expect(writeSyntheticDataset(join(root, "x"), { cases: 0, seed: 1 })).rejects.toThrow(/--cases/);
    await expect(writeSyntheticDataset(join(root, "x"), { cases: 2, seed: 1.5 })).rejects.toThrow(/--seed/);
  });
});
