import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Shape3 } from "../../../src/data/volume.js";
import { InputError } from "../../../src/errors.js";
import { type BundleManifest, MANIFEST_FILE, readBundle } from "../../../src/inference/bundle.js";
import { exportRun } from "../../../src/inference/export.js";
import { type CaseImage, predictCase } from "../../../src/inference/predictCase.js";
import type { InferenceEngine } from "../../../src/inference/predictEngine.js";
import { createUNet } from "../../../src/model/unet.js";
import { obliqueAffine, writeTestRun } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "voxring-postprocess-"));
const bundle = join(dir, "bundle");

beforeAll(async () => {
  await tf.setBackend("cpu");
  const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [4, 8] }, 41);
  writeTestRun(join(dir, "run"), unet, { valWindow: [16, 16, 8] });
  unet.dispose();
  await exportRun({ run: join(dir, "run"), checkpoint: "best", out: bundle });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rewriteManifest(to: string, change: (manifest: Record<string, unknown>) => void): void {
  cpSync(bundle, to, { recursive: true });
  const path = join(to, MANIFEST_FILE);
  const manifest = JSON.parse(readFileSync(path, "utf8"));
  change(manifest);
  writeFileSync(path, JSON.stringify(manifest));
}

describe("bundle postprocess field", () => {
  it("export records the largest-component cleanup validation measured Dice with", () => {
    expect(JSON.parse(readFileSync(join(bundle, MANIFEST_FILE), "utf8")).postprocess).toBe("largest-component");
    expect(readBundle(bundle).postprocess).toBe("largest-component");
  });

  it("a bundle written before the field existed loads with no postprocessing", () => {
    const old = join(dir, "old");
    rewriteManifest(old, (manifest) => {
      manifest.format = "voxring-bundle/1"; // before bundle.json was checksummed too
      delete manifest.manifestSha256;
      delete manifest.postprocess;
    });
    expect(readBundle(old, () => {}).postprocess).toBe("none");
  });

  it("an unknown postprocessing is refused, naming the field", () => {
    const odd = join(dir, "odd");
    rewriteManifest(odd, (manifest) => {
      manifest.postprocess = "fill-holes";
    });
    expect(() => readBundle(odd)).toThrow(InputError);
    expect(() => readBundle(odd)).toThrow(/postprocess/);
  });
});

describe("predictCase postprocessing", () => {
  // On the bundle's own 1 mm grid, so resampling is the identity and the mask can be compared voxel by voxel.
  const shape: Shape3 = [20, 16, 11];
  const [X, Y] = shape;
  const big = { from: [2, 2, 2], to: [7, 6, 5] };
  const small = { from: [14, 11, 7], to: [15, 12, 8] };

  function paint(boxes: { from: number[]; to: number[] }[]): Uint8Array {
    const out = new Uint8Array(shape[0] * shape[1] * shape[2]);
    for (const { from, to } of boxes)
      for (let z = from[2]; z <= to[2]; z++)
        for (let y = from[1]; y <= to[1]; y++) for (let x = from[0]; x <= to[0]; x++) out[(z * Y + y) * X + x] = 1;
    return out;
  }

  /** Bright where the blobs are, dim elsewhere; both channels alike. */
  function blobCase(): CaseImage {
    const mask = paint([big, small]);
    const data = new Float32Array(mask.length * 2);
    for (let v = 0; v < mask.length; v++) data[2 * v] = data[2 * v + 1] = mask[v] ? 10 : 1;
    const affine = obliqueAffine([1, 1, 1], 0, [0, 0, 0]);
    return {
      paths: ["blobs.nii.gz"],
      image: { data, shape, channels: 2, spacing: [1, 1, 1], affine },
      reference: { shape: [...shape], data, affine } as unknown as CaseImage["reference"],
    };
  }

  /** Class 1 wherever the z-scored first channel is above its mean: exactly the blobs, both of them. */
  const thresholdEngine: InferenceEngine = {
    name: "tfjs",
    predict: async (patches, [PX, PY, PZ], count) => {
      const voxels = PX * PY * PZ * count;
      const probs = new Float32Array(voxels * 3);
      for (let v = 0; v < voxels; v++) probs[3 * v + (patches[2 * v] > 0 ? 1 : 0)] = 1;
      return probs;
    },
    dispose: async () => {},
  };

  const withPostprocess = (postprocess: BundleManifest["postprocess"]): BundleManifest => ({
    ...readBundle(bundle),
    postprocess,
  });

  it('keeps every blob when the bundle says "none"', async () => {
    const { labels } = await predictCase(blobCase(), withPostprocess("none"), thresholdEngine);
    expect(labels).toEqual(paint([big, small]));
  });

  it('keeps only the largest blob when the bundle says "largest-component"', async () => {
    const { labels } = await predictCase(blobCase(), withPostprocess("largest-component"), thresholdEngine);
    expect(labels).toEqual(paint([big]));
  });
});
