import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { checkDataset, formatReport, problemLines, requireCheckedDataset } from "../../../src/data/check.js";
import { writeSyntheticDataset } from "../../../src/data/synth/dataset.js";
import { InputError } from "../../../src/errors.js";
import { diag, type TinyCase, tempDir, writeTinyDataset } from "./helpers.js";

const root = tempDir("voxring-check-");
afterAll(() => rmSync(root, { recursive: true, force: true }));

const shape = [7, 6, 5];
const n = 7 * 6 * 5;
const id = (i: number) => `prostate_${String(i).padStart(2, "0")}`;
const image = (dir: string, i: number) => join(dir, "imagesTr", `${id(i)}.nii.gz`);
const label = (dir: string, i: number) => join(dir, "labelsTr", `${id(i)}.nii.gz`);

/** Rewrites one header field of a written .nii.gz (the writer itself refuses to write bad geometry). */
function patchFloat32(path: string, offset: number, value: number): void {
  const bytes = gunzipSync(readFileSync(path));
  bytes.writeFloatLE(value, offset);
  writeFileSync(path, gzipSync(bytes));
}

interface BadCase {
  what: string;
  tweak?: () => TinyCase;
  /** after the dataset is written */
  after?: (dir: string, i: number) => void;
  file: (dir: string, i: number) => string;
  reason: RegExp;
}

// Each row is one case of one dataset, between good ones: the check must name exactly these cases.
const bad: BadCase[] = [
  {
    what: "label grid differs",
    tweak: () => ({ label: { shape: [7, 6, 4], data: new Uint8Array(7 * 6 * 4) } }),
    file: label,
    reason: /^shape 7×6×4 does not match image 7×6×5/,
  },
  {
    what: "label affine differs",
    tweak: () => ({ label: { shape, data: new Uint8Array(n), affine: diag([0.5, 0.5, 2.5]) } }),
    file: label,
    reason: /^affine differs from the image's/,
  },
  {
    what: "label value 7",
    tweak: () => ({ label: { shape, data: new Uint8Array(n).fill(7, 11, 12) } }),
    file: label,
    reason: /^label value 7 at index 11 is not one of dataset.json's labels 0..2/,
  },
  {
    what: "float label 0.5",
    tweak: () => ({ label: { shape, data: new Float32Array(n).fill(0.5, 20, 21) } }),
    file: label,
    reason: /^label value 0.5 at index 20 is not one of/,
  },
  {
    what: "NaN voxel in image",
    tweak: () => ({ image: { shape: [...shape, 2], data: new Float32Array(n * 2).fill(1).fill(Number.NaN, 17, 18) } }),
    file: image,
    reason: /^non-finite voxel \(NaN\) in channel 0 \(T2\) at index 17/,
  },
  {
    what: "wrong channel count",
    tweak: () => ({ image: { shape: [...shape, 3], data: new Float32Array(n * 3).fill(1) } }),
    file: image,
    reason: /^has 3 channel\(s\), dataset.json's modality names 2 \(T2, ADC\)/,
  },
  {
    what: "missing file",
    after: (dir, i) => rmSync(label(dir, i)),
    file: label,
    reason: /^no such file/,
  },
  {
    what: "bad spacing",
    after: (dir, i) => patchFloat32(image(dir, i), 84, Number.POSITIVE_INFINITY), // pixdim[2]
    file: image,
    reason: /^bad voxel spacing pixdim\[2\] = Infinity/,
  },
  {
    what: "zero spacing in the label",
    after: (dir, i) => patchFloat32(label(dir, i), 88, 0), // pixdim[3]
    file: label,
    reason: /^bad voxel spacing pixdim\[3\] = 0/,
  },
];
const badIndex = (row: number) => 1 + row * 2; // cases 0, 2, 4, ... stay good

describe("checkDataset", () => {
  const dir = join(root, "bad");
  const count = badIndex(bad.length - 1) + 2;

  it("reports exactly the bad cases, each by case id, file and reason, and goes on past them", async () => {
    await writeTinyDataset(dir, count, (i) => bad.find((_, row) => badIndex(row) === i)?.tweak?.() ?? {});
    for (const [row, b] of bad.entries()) b.after?.(dir, badIndex(row));
    const report = await checkDataset(dir);
    expect(report.cases).toBe(count);
    expect(report.problems.map((p) => p.case)).toEqual(bad.map((_, row) => id(badIndex(row))));
    for (const [row, b] of bad.entries()) {
      const problem = report.problems[row];
      expect(problem.file, b.what).toBe(b.file(dir, badIndex(row)));
      expect(problem.reason, b.what).toMatch(b.reason);
      expect(problem.reason).not.toContain("\n");
    }
  });

  it("problemLines: one line per bad case, at most 5, then how many more", async () => {
    const report = await checkDataset(dir);
    const lines = problemLines(report);
    expect(lines.length).toBe(6);
    expect(lines[0]).toBe(`${id(1)}: ${label(dir, 1)}: ${report.problems[0].reason}`);
    expect(lines[5]).toBe(`... and ${bad.length - 5} more`);
    expect(problemLines(report, bad.length)).toHaveLength(bad.length);
  });

  it("requireCheckedDataset refuses with one InputError naming the directory and the first bad case", async () => {
    const error = await requireCheckedDataset(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    const message = (error as InputError).message;
    expect(message).toMatch(new RegExp(`^${dir}: dataset check failed for ${bad.length} of ${count} case\\(s\\)`));
    expect(message).toContain(`first ${id(1)}: ${label(dir, 1)}: shape 7×6×4`);
    expect(message).toContain(`orchestrate check --data ${dir}`);
  });

  it("checks the test images dataset.json lists: their channel count and voxels", async () => {
    const withTests = join(root, "tests");
    await writeTinyDataset(withTests, 2, (i) =>
      i === 1 ? { image: { shape: [...shape, 1], data: new Float32Array(n).fill(2) } } : {},
    );
    // case 1's image becomes a test image (one channel: wrong); case 0's image is a fine one
    const json = JSON.parse(readFileSync(join(withTests, "dataset.json"), "utf8"));
    json.test = [json.training[0].image, json.training[1].image];
    json.training = [json.training[0], { ...json.training[0] }];
    writeFileSync(join(withTests, "dataset.json"), JSON.stringify(json));
    const report = await checkDataset(withTests);
    expect(report.testImages).toBe(2);
    expect(report.problems).toEqual([
      { case: id(1), file: image(withTests, 1), reason: expect.stringMatching(/^has 1 channel\(s\)/) },
    ]);
  });

  it("a synthetic dataset passes, with its channels, labels, voxel counts and the list of checks", async () => {
    const synth = join(root, "synth");
    await writeSyntheticDataset(synth, { cases: 2, seed: 3 });
    const report = await checkDataset(synth);
    expect(report.problems).toEqual([]);
    expect(report.cases).toBe(2);
    expect(report.channels).toEqual(["T2", "ADC"]);
    expect(report.labels).toEqual(["background", "PZ", "TZ"]);
    const labelFile = gunzipSync(readFileSync(join(synth, "labelsTr", "prostate_01.nii.gz")));
    const dims = [42, 44, 46].map((o) => labelFile.readInt16LE(o));
    const first = labelFile.subarray(352);
    const counts = [0, 1, 2].map((v) => first.filter((x) => x === v).length);
    expect(first.length).toBe(dims[0] * dims[1] * dims[2]);
    // case 1's own counts are part of the totals, and every class occurs
    for (const v of [0, 1, 2]) expect(report.labelVoxels[v]).toBeGreaterThan(counts[v]);
    expect(report.checks.length).toBeGreaterThan(4);
    const text = formatReport(report);
    expect(text).toContain("2 training case(s) checked");
    expect(text).toContain("channels: 2 (0: T2, 1: ADC)");
    expect(text).toMatch(/labels: \{0: background [\d.]+%, 1: PZ [\d.]+%, 2: TZ [\d.]+%\}/);
  });

  it("dataset.json problems are an InputError, not a report", async () => {
    const empty = join(root, "empty");
    await writeTinyDataset(empty, 1);
    writeFileSync(join(empty, "dataset.json"), "{not json");
    await expect(checkDataset(empty)).rejects.toThrow(/dataset.json: not valid JSON/);
  });
});
