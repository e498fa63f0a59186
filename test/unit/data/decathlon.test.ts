import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDecathlon, splitCases } from "../../../src/data/decathlon.js";
import { loadCase } from "../../../src/data/loadCase.js";
import { readNifti } from "../../../src/data/nifti/read.js";
import { InputError } from "../../../src/errors.js";
import { diag, tempDir, writeTinyDataset } from "./helpers.js";

const root = tempDir();
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("loadDecathlon", () => {
  it("reads names from dataset.json and resolves ./ paths against the directory", async () => {
    const dir = join(root, "ok");
    await writeTinyDataset(dir, 3);
    const ds = await loadDecathlon(dir);
    expect(ds.channels).toEqual(["T2", "ADC"]);
    expect(ds.labels).toEqual(["background", "PZ", "TZ"]);
    expect(ds.cases.map((c) => c.id)).toEqual(["prostate_00", "prostate_01", "prostate_02"]);
    expect(ds.cases[1].image).toBe(join(dir, "imagesTr", "prostate_01.nii.gz"));
  });

  it("loads a case channels-last with the file's voxels", async () => {
    const dir = join(root, "ok");
    const ds = await loadDecathlon(dir);
    const loaded = await loadCase(ds, ds.cases[2]);
    const file = await readNifti(ds.cases[2].image);
    const voxels = 7 * 6 * 5;
    expect(loaded.image.shape).toEqual([7, 6, 5]);
    expect(loaded.image.channels).toBe(2);
    expect(loaded.image.spacing).toEqual([0.5, 0.5, 2]);
    for (const v of [0, 17, voxels - 1]) {
      expect(loaded.image.data[v * 2]).toBe(file.data[v]);
      expect(loaded.image.data[v * 2 + 1]).toBe(file.data[voxels + v]);
    }
    expect(loaded.label.data.length).toBe(voxels);
  });

  const badJson: [string, unknown, RegExp][] = [
    ["no training list", { modality: { "0": "T2" }, labels: { "0": "bg", "1": "x" } }, /training/],
    [
      "labels with a gap",
      { modality: { "0": "T2" }, labels: { "0": "bg", "2": "x" }, training: [{ image: "a", label: "b" }] },
      /labels: keys must be 0..1, 1 is missing/,
    ],
    [
      "only background",
      { modality: { "0": "T2" }, labels: { "0": "bg" }, training: [{ image: "a", label: "b" }] },
      /at least background and one class/,
    ],
  ];
  for (const [what, json, message] of badJson) {
    it(`rejects dataset.json with ${what}`, async () => {
      const dir = join(root, what.replace(/\W/g, "_"));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "dataset.json"), JSON.stringify(json));
      const error = await loadDecathlon(dir).catch((e) => e);
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toContain("dataset.json");
      expect(error.message).toMatch(message);
    });
  }

  it("rejects a missing dataset.json, bad JSON and a listed file that does not exist", async () => {
    await expect(loadDecathlon(join(root, "nowhere"))).rejects.toThrow(/dataset.json: no such file/);
    const dir = join(root, "badjson");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "dataset.json"), "{ not json");
    await expect(loadDecathlon(dir)).rejects.toThrow(/not valid JSON/);
    const gone = join(root, "gone");
    await writeTinyDataset(gone, 2);
    rmSync(join(gone, "labelsTr", "prostate_01.nii.gz"));
    await expect(loadDecathlon(gone)).rejects.toThrow(/labelsTr\/prostate_01.nii.gz: no such file/);
  });
});

describe("loadCase rejects inconsistent cases, naming the file", () => {
  const shape = [7, 6, 5];
  const n = 7 * 6 * 5;
  const bad: [string, Parameters<typeof writeTinyDataset>[2], RegExp, string][] = [
    [
      "image/label shape mismatch",
      () => ({ label: { shape: [7, 6, 4], data: new Uint8Array(7 * 6 * 4) } }),
      /shape 7×6×4 does not match image 7×6×5/,
      "labelsTr",
    ],
    [
      "affine mismatch",
      () => ({ label: { shape, data: new Uint8Array(n), affine: diag([0.5, 0.5, 2.5]) } }),
      /affine differs/,
      "labelsTr",
    ],
    [
      "channel count",
      () => ({ image: { shape: [...shape, 3], data: new Float32Array(n * 3).fill(1) } }),
      /3 channel\(s\), dataset.json's modality names 2 \(T2, ADC\)/,
      "imagesTr",
    ],
    [
      "NaN voxel",
      () => ({ image: { shape: [...shape, 2], data: new Float32Array(n * 2).fill(1).fill(Number.NaN, n + 3, n + 4) } }),
      /non-finite voxel \(NaN\) in channel 1 \(ADC\) at index 3/,
      "imagesTr",
    ],
    [
      "Inf voxel",
      () => ({ image: { shape: [...shape, 2], data: new Float32Array(n * 2).fill(Number.POSITIVE_INFINITY, 9, 10) } }),
      /non-finite voxel \(Infinity\)/,
      "imagesTr",
    ],
    [
      "label outside dataset.json",
      () => ({ label: { shape, data: new Uint8Array(n).fill(3, 40, 41) } }),
      /label value 3 at index 40 is not one of dataset.json's labels 0..2/,
      "labelsTr",
    ],
    [
      "4D label map",
      () => ({ label: { shape: [...shape, 2], data: new Uint8Array(n * 2) } }),
      /label map must be 3D/,
      "labelsTr",
    ],
  ];
  for (const [what, tweak, message, where] of bad) {
    it(what, async () => {
      const dir = join(root, what.replace(/\W/g, "_"));
      await writeTinyDataset(dir, 2, (i) => (i === 1 ? tweak!(i) : {}));
      const ds = await loadDecathlon(dir);
      await expect(loadCase(ds, ds.cases[0])).resolves.toBeTruthy();
      const error = await loadCase(ds, ds.cases[1]).catch((e) => e);
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toContain(join(dir, where, "prostate_01.nii.gz"));
      expect(error.message).toMatch(message);
    });
  }
});

describe("splitCases", () => {
  const ids = Array.from({ length: 32 }, (_, i) => i);
  it("defaults to the reference 21/6/5 of 32, disjoint and complete", () => {
    const s = splitCases(ids, { seed: 3 });
    expect([s.train.length, s.validation.length, s.test.length]).toEqual([21, 6, 5]);
    expect([...s.train, ...s.validation, ...s.test].sort((a, b) => a - b)).toEqual(ids);
  });
  it("is seeded: same seed same split, another seed another split", () => {
    expect(splitCases(ids, { seed: 3 })).toEqual(splitCases(ids, { seed: 3 }));
    expect(splitCases(ids, { seed: 3 }).validation).not.toEqual(splitCases(ids, { seed: 4 }).validation);
  });
  const table: [number, number | undefined, number | undefined, [number, number, number]][] = [
    [2, undefined, undefined, [1, 1, 0]],
    [5, 0.01, 0, [4, 1, 0]],
    [10, 0.5, 0.2, [3, 5, 2]],
    [8, 0.25, 0.5, [2, 2, 4]],
    [3, 0.1, 0.3, [1, 1, 1]],
  ];
  for (const [n, validation, test, want] of table) {
    it(`${n} cases, validation ${validation}, test ${test} → ${want.join("/")}`, () => {
      const s = splitCases(ids.slice(0, n), { seed: 1, validation, test });
      expect([s.train.length, s.validation.length, s.test.length]).toEqual(want);
    });
  }
  it("refuses what cannot give both train and validation cases", () => {
    expect(() => splitCases([1], { seed: 1 })).toThrow(InputError);
    expect(() => splitCases(ids, { seed: 1, validation: 0 })).toThrow(/validation fraction/);
    expect(() => splitCases(ids, { seed: 1, validation: 0.6, test: 0.4 })).toThrow(/must leave cases for training/);
  });
});
