import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatSummary, inspectNifti } from "../../../src/data/inspect.js";
import { writeNifti } from "../../../src/data/nifti/write.js";
import { Rng } from "../../../src/random.js";
import { tempDir } from "./helpers.js";

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("inspectNifti", () => {
  it("reports shape, spacing, datatype, affine and per-channel statistics of scaled values, as nibabel sees them", async () => {
    const rng = new Rng(12);
    const shape = [5, 4, 3, 2];
    const data = new Float64Array(120).map(() => Math.round(rng.uniform(-300, 300)) * 0.5 + 10);
    const affine = [
      [0, 0.6, 0, -3],
      [-0.6, 0, 0, 7],
      [0, 0, 3.3, 1],
      [0, 0, 0, 1],
    ];
    const file = join(dir, "scaled.nii.gz");
    await writeNifti(file, { shape, data, datatype: "int16", slope: 0.5, inter: 10, affine });
    const s = await inspectNifti(file);
    const script = `import nibabel as nib, numpy as np, json; i = nib.load(${JSON.stringify(file)}); d = i.get_fdata();
print(json.dumps({"shape": list(i.shape), "zooms": [float(z) for z in i.header.get_zooms()[:3]], "affine": i.affine.tolist(),
 "dtype": str(i.get_data_dtype()), "stats": [[float(d[..., c].min()), float(d[..., c].max()), float(d[..., c].mean()), float(d[..., c].sum())] for c in range(d.shape[3])]}))`;
    const want = JSON.parse(execFileSync("/usr/bin/python3", ["-c", script], { encoding: "utf8" }));
    expect(s.shape).toEqual(want.shape);
    expect(s.datatype).toBe(want.dtype);
    for (let i = 0; i < 3; i++) expect(s.spacing[i]).toBeCloseTo(want.zooms[i], 5);
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(s.affine[r][c]).toBeCloseTo(want.affine[r][c], 5);
    expect(s.channels.length).toBe(2);
    s.channels.forEach((ch, c) => {
      const [min, max, mean, sum] = want.stats[c];
      expect(ch.min).toBeCloseTo(min, 6);
      expect(ch.max).toBeCloseTo(max, 6);
      expect(ch.mean).toBeCloseTo(mean, 6);
      expect(ch.sum).toBeCloseTo(sum, 4);
    });
    const text = formatSummary(s);
    expect(text).toContain("int16, 5×4×3×2 voxels");
    expect(text.split("\n").filter((l) => l.startsWith("channel")).length).toBe(2);
  });
});
