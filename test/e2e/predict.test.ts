/**
 * `orchestrate export` and `orchestrate predict` through the built CLI: a checkpoint of a small U-Net →
 * bundle → masks from both engines on a case with an oblique affine; bad input → exit 2, one stderr line
 * naming the file, no output left behind.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readNifti, writeNifti } from "../../src/data/nifti/index.js";
import { manifestDigest } from "../../src/inference/bundle.js";
import { createUNet } from "../../src/model/unet.js";
import { obliqueAffine, phantomCase, randomiseStatistics, writeTestRun } from "../unit/inference/helpers.js";
import { cli } from "./trainHelpers.js";

const dir = mkdtempSync(join(tmpdir(), "voxring-e2e-predict-"));
const run = join(dir, "run");
const bundle = join(dir, "bundle");
const shape: [number, number, number] = [40, 36, 8];
const voxels = shape[0] * shape[1] * shape[2];
const affine = obliqueAffine([0.7, 0.75, 3.3], -35, [12, -40, 7]);
const case4d = join(dir, "case.nii.gz");

/** Runs the CLI; stderr without the one warning an environment without the native addon adds. */
function orchestrate(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    env: { ...process.env, OMP_NUM_THREADS: "1" },
  });
  const stderr = result.stderr
    .split("\n")
    .filter((line) => !/^\(node:\d+\) Warning: voxring: native|^\(Use `node --trace-warnings/.test(line))
    .join("\n")
    .trim();
  return { status: result.status, stdout: result.stdout, stderr };
}

let exported: ReturnType<typeof orchestrate>;

/** Shape and affine as nibabel (an independent reader) sees them. */
function nibabelGeometry(path: string): { shape: number[]; affine: number[][] } {
  const script = `import json,sys,nibabel as nib; im=nib.load(sys.argv[1]); print(json.dumps({"shape": list(im.shape), "affine": im.affine.tolist()}))`;
  return JSON.parse(execFileSync("/usr/bin/python3", ["-c", script, path], { encoding: "utf8" }));
}

beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend("cpu");
  const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [4, 8, 16] }, 41);
  randomiseStatistics(unet, 42);
  writeTestRun(run, unet, { valWindow: [32, 32, 16] });
  unet.dispose();
  await writeNifti(case4d, { shape: [...shape, 2], data: phantomCase(shape, 43), affine });
  exported = orchestrate("export", "--run", run, "--out", bundle);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("orchestrate export + predict", () => {
  it("exports the run's best checkpoint into a bundle", () => {
    const result = exported;
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/exported .*step-00000007 .*channels T2\+ADC, labels background\/PZ\/TZ/);
    const manifest = JSON.parse(readFileSync(join(bundle, "bundle.json"), "utf8"));
    expect(Object.keys(manifest.files).sort()).toEqual(["model.json", "model.onnx", "weights.bin"]);
  });

  it("segments with both engines into the input's own grid, with a preview", async () => {
    const masks: Uint8Array[] = [];
    for (const engine of ["tfjs", "onnx"]) {
      const out = join(dir, `mask-${engine}.nii.gz`);
      const png = join(dir, `preview-${engine}.png`);
      const result = orchestrate(
        "predict",
        "--model",
        bundle,
        "--in",
        case4d,
        "--out",
        out,
        "--png",
        png,
        "--engine",
        engine,
      );
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      expect(readFileSync(png).subarray(1, 4).toString()).toBe("PNG");
      const geometry = nibabelGeometry(out);
      const input = nibabelGeometry(case4d);
      expect(geometry.shape).toEqual(shape);
      for (let r = 0; r < 4; r++)
        for (let c = 0; c < 4; c++) expect(geometry.affine[r][c]).toBeCloseTo(input.affine[r][c], 5);
      masks.push((await readNifti(out)).raw as Uint8Array);
    }
    let differ = 0;
    for (let i = 0; i < voxels; i++) if (masks[0][i] !== masks[1][i]) differ++;
    expect(new Set(masks[0]).size).toBeGreaterThan(1);
    expect(differ).toBeLessThanOrEqual(voxels * 1e-3);
  });
});

describe("bad input: exit 2, one line naming the file, nothing written", () => {
  const refused = (args: string[], out: string, names: RegExp) => {
    const result = orchestrate(...args);
    expect(result.status).toBe(2);
    expect(result.stderr.split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(names);
    expect(existsSync(out)).toBe(false);
  };

  it("a single file with the wrong channel count", async () => {
    const t2only = join(dir, "t2only.nii.gz");
    await writeNifti(t2only, { shape, data: phantomCase(shape, 44).subarray(0, voxels), affine });
    const out = join(dir, "out-channels.nii.gz");
    refused(["predict", "--model", bundle, "--in", t2only, "--out", out], out, /t2only\.nii\.gz: has 1 channel/);
  });

  it("T2 and ADC on different grids", async () => {
    const planar = phantomCase(shape, 45);
    const t2 = join(dir, "t2.nii.gz");
    const adc = join(dir, "adc-shifted.nii.gz");
    await writeNifti(t2, { shape, data: planar.subarray(0, voxels), affine });
    const shifted = affine.map((row, r) => row.map((v, c) => (c === 3 && r < 3 ? v + 5 : v)));
    await writeNifti(adc, { shape, data: planar.subarray(voxels), affine: shifted });
    const out = join(dir, "out-grid.nii.gz");
    refused(
      ["predict", "--model", bundle, "--in", t2, "--in", adc, "--out", out],
      out,
      /adc-shifted\.nii\.gz: is not on the grid/,
    );
  });

  it("a bundle with an altered file", () => {
    const altered = join(dir, "bundle-altered");
    cpSync(bundle, altered, { recursive: true });
    const weights = readFileSync(join(altered, "weights.bin"));
    weights[100] ^= 0xff;
    writeFileSync(join(altered, "weights.bin"), weights);
    const out = join(dir, "out-altered.nii.gz");
    refused(["predict", "--model", altered, "--in", case4d, "--out", out], out, /weights\.bin: checksum mismatch/);
  });

  it("a bundle with a missing file", () => {
    const missing = join(dir, "bundle-missing");
    cpSync(bundle, missing, { recursive: true });
    rmSync(join(missing, "model.onnx"));
    const out = join(dir, "out-missing.nii.gz");
    const png = join(dir, "out-missing.png");
    refused(
      ["predict", "--model", missing, "--in", case4d, "--out", out, "--png", png, "--engine", "onnx"],
      out,
      /model\.onnx: missing/,
    );
    expect(existsSync(png)).toBe(false);
  });

  interface EditableManifest {
    files: Record<string, unknown>;
    labels: string[];
    postprocess: string;
    model: { channels: number[] };
    inference: { overlap: number };
    preprocessing: { targetSpacing: number[] };
    manifestSha256?: string;
  }
  /** A copy of the bundle with bundle.json edited; `forge` recomputes its manifestSha256 as a forger would. */
  const editedBundle = (name: string, change: (m: EditableManifest) => void, forge: boolean) => {
    const copy = join(dir, name);
    cpSync(bundle, copy, { recursive: true });
    const path = join(copy, "bundle.json");
    const manifest = JSON.parse(readFileSync(path, "utf8"));
    change(manifest);
    if (forge) manifest.manifestSha256 = manifestDigest(manifest as unknown as Record<string, unknown>);
    writeFileSync(path, JSON.stringify(manifest));
    return copy;
  };
  const forgeries: [string, (m: EditableManifest) => void, boolean, RegExp][] = [
    [
      "weights.bin's entry deleted, checksum recomputed",
      (m) => delete m.files["weights.bin"],
      true,
      /bundle\.json: lists no checksum for weights\.bin$/,
    ],
    ["labels swapped", (m) => m.labels.reverse(), false, /bundle\.json: edited since export/],
    ["postprocess edited", (m) => (m.postprocess = "none"), false, /bundle\.json: edited since export/],
    ["model.channels edited", (m) => (m.model.channels = [4, 8, 32]), false, /bundle\.json: edited since export/],
    ["overlap 0.99", (m) => (m.inference.overlap = 0.99), true, /bundle\.json: inference\.overlap: /],
    [
      "targetSpacing 1e-6",
      (m) => (m.preprocessing.targetSpacing = [1e-6, 1e-6, 1e-6]),
      true,
      /bundle\.json: preprocessing\.targetSpacing\.0: /,
    ],
    [
      "targetSpacing 0.1 (past the window limit for this case)",
      (m) => (m.preprocessing.targetSpacing = [0.1, 0.1, 0.1]),
      true,
      /case\.nii\.gz: at the bundle's 0\.1×0\.1×0\.1 mm, window .* it needs \d+ windows, more than the limit of 4096/,
    ],
  ];
  it.each(forgeries)("a bundle with %s", (what, change, forge, names) => {
    const edited = editedBundle(`bundle-${what.replace(/\W+/g, "-")}`, change, forge);
    if (what.startsWith("weights.bin")) {
      // and the weights replaced by zeros, which once gave an all-background mask and exit 0
      writeFileSync(join(edited, "weights.bin"), Buffer.alloc(readFileSync(join(edited, "weights.bin")).byteLength));
    }
    const out = join(dir, `out-${what.replace(/\W+/g, "-")}.nii.gz`);
    refused(["predict", "--model", edited, "--in", case4d, "--out", out], out, names);
  });

  it("export from a run without checkpoints", () => {
    const out = join(dir, "bundle-none");
    refused(["export", "--run", join(dir, "no-such-run"), "--out", out], out, /no-such-run: has no checkpoint/);
  });
});
