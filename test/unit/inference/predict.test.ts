import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readNifti, writeNifti } from "../../../src/data/nifti/index.js";
import { labelsToOriginalGrid } from "../../../src/data/resample.js";
import { argmaxLabels, slidingWindowInference } from "../../../src/data/slidingWindow.js";
import { InputError } from "../../../src/errors.js";
import { readBundle } from "../../../src/inference/bundle.js";
import { exportRun } from "../../../src/inference/export.js";
import { runPredict } from "../../../src/inference/predict.js";
import { preprocess, readCase } from "../../../src/inference/predictCase.js";
import { createUNet, type UNet } from "../../../src/model/unet.js";
import { obliqueAffine, phantomCase, randomiseStatistics, writeTestRun } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "voxring-predict-"));
const run = join(dir, "run");
const bundle = join(dir, "bundle");
const shape: [number, number, number] = [48, 40, 9];
const affine = obliqueAffine([0.7, 0.8, 3], 30, [-20, 15, 40]);
const casePath = join(dir, "case.nii.gz");
let unet: UNet;

beforeAll(async () => {
  await tf.setBackend("cpu");
  unet = createUNet({ inChannels: 2, numClasses: 3, channels: [4, 8, 16] }, 31);
  randomiseStatistics(unet, 32);
  writeTestRun(run, unet, { valWindow: [32, 32, 16] });
  await exportRun({ run, checkpoint: "best", out: bundle });
  await writeNifti(casePath, { shape: [...shape, 2], data: phantomCase(shape, 33), affine });
});
afterAll(() => {
  unet.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function mismatches(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

let trainingModelLabels: Uint8Array | undefined;

/** The case segmented with the training U-Net in eval mode (computed once). */
async function inferWithTrainingModel(): Promise<Uint8Array> {
  if (trainingModelLabels) return trainingModelLabels;
  const manifest = readBundle(bundle);
  const input = await readCase([casePath], manifest);
  const pre = preprocess(input.image, manifest);
  const probs = await slidingWindowInference(pre.data, pre.shape, 2, {
    window: manifest.inference.window,
    overlap: manifest.inference.overlap,
    multipleOf: manifest.inference.windowMultiple,
    numClasses: 3,
    predict: async (patches, [X, Y, Z], count) =>
      tf.tidy(
        () => tf.softmax(unet.apply(tf.tensor5d(patches, [count, Z, Y, X, 2]), false)).dataSync() as Float32Array,
      ),
  });
  trainingModelLabels = labelsToOriginalGrid(
    argmaxLabels(probs, 3),
    pre.shape,
    pre.spacing,
    shape,
    input.image.spacing,
  );
  return trainingModelLabels;
}

describe("export + predict", () => {
  it("writes a verified bundle naming its source, channels and labels", () => {
    const manifest = readBundle(bundle);
    expect(manifest.channels).toEqual(["T2", "ADC"]);
    expect(manifest.labels).toEqual(["background", "PZ", "TZ"]);
    expect(manifest.source.globalStep).toBe(7);
    expect(manifest.inference.window).toEqual([32, 32, 16]);
    expect(Object.keys(manifest.files).sort()).toEqual(["model.json", "model.onnx", "weights.bin"]);
    expect(readdirSync(dir).filter((name) => name.includes(".tmp"))).toEqual([]);
  });

  it.each(["tfjs", "onnx"] as const)(
    "%s: the mask has the input's shape and oblique affine and equals the training model's segmentation",
    async (engine) => {
      const out = join(dir, `mask-${engine}.nii.gz`);
      const png = join(dir, `mask-${engine}.png`);
      const [result] = await runPredict({ model: bundle, inputs: [casePath], out, png, engine });
      expect(result.windows).toBeGreaterThan(1);
      const mask = await readNifti(out);
      expect(mask.shape).toEqual(shape);
      expect(mask.datatype).toBe("uint8");
      for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(mask.affine[r][c]).toBeCloseTo(affine[r][c], 5);
      const labels = mask.raw as Uint8Array;
      const expected = await inferWithTrainingModel();
      // the random net predicts more than one class, and the exported model agrees voxel for voxel
      expect(new Set(expected).size).toBeGreaterThan(1);
      expect(mismatches(labels, expected)).toBeLessThanOrEqual(labels.length * 1e-3);
      expect(existsSync(png)).toBe(true);
    },
  );

  it("takes one 3D file per channel and gives the same mask as the 4D file", async () => {
    const planar = phantomCase(shape, 33);
    const voxels = shape[0] * shape[1] * shape[2];
    const t2 = join(dir, "t2.nii.gz");
    const adc = join(dir, "adc.nii.gz");
    await writeNifti(t2, { shape, data: planar.subarray(0, voxels), affine });
    await writeNifti(adc, { shape, data: planar.subarray(voxels), affine });
    const out = join(dir, "mask-split.nii.gz");
    await runPredict({ model: bundle, inputs: [t2, adc], out, engine: "tfjs" });
    const reference = await readNifti(join(dir, "mask-tfjs.nii.gz"));
    expect(mismatches((await readNifti(out)).raw as Uint8Array, reference.raw as Uint8Array)).toBe(0);
  });

  it("segments a directory of cases into a directory of masks", async () => {
    const cases = join(dir, "cases");
    const masks = join(dir, "masks");
    mkdirSync(cases);
    const small: [number, number, number] = [21, 17, 5];
    await writeNifti(join(cases, "a.nii.gz"), { shape: [...small, 2], data: phantomCase(small, 1), affine });
    await writeNifti(join(cases, "b.nii"), { shape: [...small, 2], data: phantomCase(small, 2), spacing: [1, 1, 2] });
    const results = await runPredict({ model: bundle, inputs: [cases], out: masks, engine: "onnx" });
    expect(results.map((r) => r.mask)).toEqual([join(masks, "a.nii.gz"), join(masks, "b.nii.gz")]);
    for (const r of results) expect((await readNifti(r.mask)).shape).toEqual(small);
  });
});

describe("bad input", () => {
  const refused = async (inputs: string[], out: string, pattern: RegExp, model = bundle) => {
    await expect(runPredict({ model, inputs, out, engine: "tfjs" })).rejects.toSatisfy(
      (e: unknown) => e instanceof InputError && pattern.test(e.message),
    );
    expect(existsSync(out)).toBe(false);
  };

  it("refuses a file with the wrong channel count, naming it", async () => {
    const one = join(dir, "one-channel.nii.gz");
    await writeNifti(one, { shape, data: phantomCase(shape, 3).subarray(0, shape[0] * shape[1] * shape[2]), affine });
    await refused(
      [one],
      join(dir, "bad1.nii.gz"),
      /one-channel\.nii\.gz: has 1 channel\(s\), the bundle takes 2 \(T2, ADC\)/,
    );
  });

  it("refuses channels on different grids, naming the odd file", async () => {
    const voxels = shape[0] * shape[1] * shape[2];
    const t2 = join(dir, "g-t2.nii.gz");
    const adc = join(dir, "g-adc.nii.gz");
    await writeNifti(t2, { shape, data: phantomCase(shape, 4).subarray(0, voxels), affine });
    await writeNifti(adc, {
      shape,
      data: phantomCase(shape, 4).subarray(0, voxels),
      affine: obliqueAffine([0.7, 0.8, 3], 25, [-20, 15, 40]),
    });
    await refused([t2, adc], join(dir, "bad2.nii.gz"), /g-adc\.nii\.gz: is not on the grid of .*g-t2\.nii\.gz/);
  });

  it.each([
    ["model.onnx", "altered", /model\.onnx: checksum mismatch/],
    ["weights.bin", "missing", /weights\.bin: missing from the bundle/],
  ])("refuses a bundle whose %s is %s", async (file, how, pattern) => {
    const broken = join(dir, `broken-${how}`);
    await exportRun({ run, checkpoint: "last", out: broken });
    if (how === "missing") rmSync(join(broken, file));
    else writeFileSync(join(broken, file), Buffer.concat([Buffer.from([1]), Buffer.alloc(10)]));
    await refused([casePath], join(dir, `bad-${how}.nii.gz`), pattern, broken);
  });
});
