import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Affine } from "../../../src/data/nifti/affine.js";
import type { NiftiDatatype } from "../../../src/data/nifti/datatypes.js";
import { readNifti, writeNifti } from "../../../src/data/nifti/index.js";
import { Rng } from "../../../src/random.js";

// Round trips against nibabel (Debian python3-nibabel), the reference NIfTI implementation: files nibabel
// writes must read back with the same voxels and affine here, and the reverse.
const python = "/usr/bin/python3";
const fixtures = join(dirname(fileURLToPath(import.meta.url)), "niftiFixtures.py");

interface Entry {
  name: string;
  file: string;
  shape: number[];
  affine: Affine;
  zooms: number[];
  dtype?: string;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "voxring-nifti-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expected(file: string): Float64Array {
  const bytes = readFileSync(`${file.replace(/\.nii(\.gz)?$/, "")}.f64`);
  return new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function expectAffine(actual: Affine, wanted: Affine, tolerance = 1e-4): void {
  for (let i = 0; i < 4; i++)
    for (let j = 0; j < 4; j++) expect(actual[i][j]).toBeCloseTo(wanted[i][j], -Math.log10(tolerance));
}

describe("readNifti on files written by nibabel", () => {
  let manifest: Entry[] = [];
  beforeAll(() => {
    execFileSync(python, [fixtures, "write", dir]);
    manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  });

  it("covers every datatype, both endiannesses, scaling, NIfTI-2, 4D, qform-only and no-form files", () => {
    const names = manifest.map((e) => e.name);
    for (const dt of ["uint8", "int8", "int16", "uint16", "int32", "uint32", "float32", "float64"]) {
      expect(names).toContain(`${dt}_le`);
      expect(names).toContain(`${dt}_be`);
    }
    expect(names).toEqual(expect.arrayContaining(["int16_scaled", "nifti2_4d_be", "qform_only", "no_form"]));
  });

  it("reads the same voxels, shape, spacing and affine", async () => {
    for (const entry of manifest) {
      const volume = await readNifti(entry.file);
      const want = expected(entry.file);
      expect(volume.shape, entry.name).toEqual(entry.shape);
      expect(volume.version, entry.name).toBe(entry.name.startsWith("nifti2") ? 2 : 1);
      expect(volume.littleEndian, entry.name).toBe(!entry.name.endsWith("_be"));
      expectAffine(volume.affine, entry.affine);
      for (let i = 0; i < 3; i++) expect(volume.spacing[i]).toBeCloseTo(entry.zooms[i], 5);
      expect(volume.raw.length).toBe(want.length);
      const data = volume.data;
      for (let i = 0; i < want.length; i++) {
        const exact = volume.raw[i] * volume.slope + volume.inter;
        if (Math.abs(exact - want[i]) > 1e-9 * Math.max(1, Math.abs(want[i]))) {
          throw new Error(`${entry.name}[${i}]: ${exact} != ${want[i]}`);
        }
        if (data[i] !== Math.fround(want[i]) && Math.abs(data[i] - want[i]) > 1e-6 * Math.abs(want[i])) {
          throw new Error(`${entry.name} float32 [${i}]: ${data[i]} != ${want[i]}`);
        }
      }
    }
  });
});

describe("writeNifti read back by nibabel and by readNifti", () => {
  const rng = new Rng(11);
  const datatypes: NiftiDatatype[] = ["uint8", "int8", "int16", "uint16", "int32", "uint32", "float32", "float64"];
  const ranges: Record<NiftiDatatype, [number, number]> = {
    uint8: [0, 255],
    int8: [-128, 127],
    int16: [-32768, 32767],
    uint16: [0, 65535],
    int32: [-2e9, 2e9],
    uint32: [0, 4e9],
    float32: [-1e4, 1e4],
    float64: [-1e4, 1e4],
  };
  const cases = datatypes.flatMap((datatype, i) => [
    { name: `${datatype}`, datatype, shape: i % 2 ? [5, 3, 4] : [3, 4, 5, 2], slope: 1, inter: 0 },
  ]);
  cases.push({ name: "int16_scaled", datatype: "int16", shape: [4, 5, 3], slope: 0.5, inter: -3 });
  cases.push({ name: "uint8_scaled_4d", datatype: "uint8", shape: [3, 3, 3, 3], slope: 4, inter: 100 });

  function randomAffine(): Affine {
    const t = rng.uniform(-0.5, 0.5);
    const [c, s] = [Math.cos(t), Math.sin(t)];
    const sp = [rng.uniform(0.5, 1), rng.uniform(0.5, 1), rng.uniform(2, 4)];
    const flip = rng.next() < 0.5 ? -1 : 1;
    return [
      [c * sp[0], -s * sp[1], 0, rng.uniform(-50, 50)],
      [s * sp[0], c * sp[1], 0, rng.uniform(-50, 50)],
      [0, 0, flip * sp[2], rng.uniform(-50, 50)],
      [0, 0, 0, 1],
    ];
  }

  it("agrees on voxels, datatype and affine for every datatype, scaling and 4D", async () => {
    const written: { file: string; values: Float64Array; affine: Affine; datatype: string; shape: number[] }[] = [];
    for (const c of cases) {
      const count = c.shape.reduce((a, b) => a * b, 1);
      const [lo, hi] = ranges[c.datatype];
      const values = new Float64Array(count);
      for (let i = 0; i < count; i++) {
        const stored = c.datatype.startsWith("float") ? rng.uniform(lo, hi) : Math.round(rng.uniform(lo, hi));
        values[i] = c.datatype === "float32" ? Math.fround(stored) : stored;
        values[i] = values[i] * c.slope + c.inter;
      }
      const affine = randomAffine();
      const file = join(dir, `w_${c.name}.nii.gz`);
      await writeNifti(file, {
        shape: c.shape,
        data: values,
        datatype: c.datatype,
        affine,
        slope: c.slope,
        inter: c.inter,
      });
      written.push({ file, values, affine, datatype: c.datatype, shape: c.shape });
    }
    const report: Entry[] = JSON.parse(
      execFileSync(python, [fixtures, "read", ...written.map((w) => w.file)], { encoding: "utf8" }),
    );
    for (const [k, w] of written.entries()) {
      const theirs = report[k];
      expect(theirs.shape).toEqual(w.shape);
      expect(theirs.dtype).toBe(w.datatype);
      expectAffine(theirs.affine, w.affine);
      const mine = await readNifti(w.file);
      expectAffine(mine.affine, w.affine);
      const nib = expected(w.file);
      for (let i = 0; i < w.values.length; i++) {
        const tolerance =
          w.datatype === "float32" || w.datatype.startsWith("int16") ? 1e-6 * Math.abs(w.values[i]) : 1e-9;
        if (Math.abs(nib[i] - w.values[i]) > tolerance)
          throw new Error(`${w.file}[${i}] nibabel ${nib[i]} != ${w.values[i]}`);
        const back = mine.raw[i] * mine.slope + mine.inter;
        if (Math.abs(back - w.values[i]) > tolerance)
          throw new Error(`${w.file}[${i}] voxring ${back} != ${w.values[i]}`);
      }
    }
  });
});
