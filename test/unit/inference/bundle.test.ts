import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../../src/errors.js";
import { manifestDigest, readBundle, sha256 } from "../../../src/inference/bundle.js";
import { orderedNames, writeInferenceBundle } from "../../../src/inference/export.js";
import { preprocess } from "../../../src/inference/predictCase.js";
import { randomInferenceUNet } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "voxring-bundle-"));
const net = randomInferenceUNet({ inChannels: 2, numClasses: 3, channels: [2, 4] }, 61);
const description = {
  channels: ["T2", "ADC"],
  labels: ["background", "PZ", "TZ"],
  window: [33, 30, 15] as [number, number, number],
  overlap: 0.5,
  source: { run: "r", checkpoint: "r/checkpoints/best", globalStep: 3, epoch: 1, validation: null },
};

beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend("cpu");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const inputErrorMatching = (pattern: RegExp) => (e: unknown) => e instanceof InputError && pattern.test(e.message);

describe("bundle", () => {
  it("records checksums that match the files, and rounds the window up to the net's multiple", async () => {
    const out = join(dir, "a");
    const manifest = await writeInferenceBundle(out, net, description);
    expect(manifest.inference.window).toEqual([34, 30, 16]);
    for (const [name, { sha256: sum, bytes }] of Object.entries(manifest.files)) {
      const content = readFileSync(join(out, name));
      expect(content.byteLength).toBe(bytes);
      expect(sha256(content)).toBe(sum);
    }
    expect(readBundle(out)).toEqual(manifest);
  });

  it("replaces an older bundle in place and leaves no temp directory", async () => {
    const out = join(dir, "b");
    await writeInferenceBundle(out, net, description);
    const second = await writeInferenceBundle(out, net, { ...description, overlap: 0.25 });
    expect(readBundle(out).inference.overlap).toBe(0.25);
    expect(second.inference.overlap).toBe(0.25);
    expect(readdirSync(dir).filter((name) => name.startsWith("."))).toEqual([]);
  });

  it("refuses to replace a directory that is not a bundle", async () => {
    const out = join(dir, "not-a-bundle");
    mkdirSync(out);
    writeFileSync(join(out, "precious.txt"), "keep me");
    await expect(writeInferenceBundle(out, net, description)).rejects.toSatisfy(
      inputErrorMatching(/--out: .* is not a voxring bundle/),
    );
    expect(readFileSync(join(out, "precious.txt"), "utf8")).toBe("keep me");
  });

  it.each([
    [
      "bundle.json is not JSON",
      (out: string) => writeFileSync(join(out, "bundle.json"), "{"),
      /bundle\.json: not valid JSON/,
    ],
    [
      "a checksum is forged",
      (out: string) =>
        edit(out, (m) => {
          m.files["model.json"].sha256 = "0".repeat(64);
        }),
      /model\.json: checksum mismatch/,
    ],
    [
      "a field is missing",
      (out: string) =>
        edit(out, (m) => {
          delete m.labels;
        }),
      /bundle\.json: labels/,
    ],
    [
      "a file is truncated",
      (out: string) => writeFileSync(join(out, "model.onnx"), readFileSync(join(out, "model.onnx")).subarray(0, 10)),
      /model\.onnx: checksum mismatch/,
    ],
  ])("names the file when %s", async (_, breakIt, pattern) => {
    const out = join(dir, `broken-${Math.random().toString(36).slice(2)}`);
    await writeInferenceBundle(out, net, description);
    breakIt(out);
    let error: unknown;
    try {
      readBundle(out);
    } catch (e) {
      error = e;
    }
    expect(error).toSatisfy(inputErrorMatching(pattern));
  });

  it("refuses a missing bundle directory", () => {
    expect(existsSync(join(dir, "nope"))).toBe(false);
    expect(() => readBundle(join(dir, "nope"))).toThrow(/nope: no such bundle directory/);
  });
});

describe("orderedNames", () => {
  it("orders dataset.json maps by index and refuses gaps", () => {
    expect(orderedNames({ "1": "ADC", "0": "T2" }, "x")).toEqual(["T2", "ADC"]);
    expect(() => orderedNames({ "0": "a", "2": "b" }, "dataset.json labels")).toThrow(
      /dataset\.json labels: keys must be 0\.\.n−1/,
    );
  });
});

interface EditableManifest {
  format: string;
  manifestSha256?: string;
  files: Record<string, { sha256: string; bytes: number }>;
  labels?: string[];
  postprocess: string;
  model: { channels: number[] };
  preprocessing: { targetSpacing: number[] };
  inference: { overlap: number; window: number[] };
}

/** Edits bundle.json as a forger would: the manifest checksum recomputed, unless `naive`. */
function edit(out: string, change: (manifest: EditableManifest) => void, naive = false): void {
  const path = join(out, "bundle.json");
  const manifest = JSON.parse(readFileSync(path, "utf8")) as EditableManifest;
  change(manifest);
  if (!naive) manifest.manifestSha256 = manifestDigest(manifest as unknown as Record<string, unknown>);
  writeFileSync(path, JSON.stringify(manifest));
}

describe("bundle.json is covered and bounded", () => {
  const naiveEdits: [string, (m: EditableManifest) => void][] = [
    ["labels swapped", (m) => m.labels?.reverse()],
    ["postprocess switched off", (m) => (m.postprocess = "none")],
    ["model.channels changed", (m) => (m.model.channels = [2, 8])],
    ["a file's entry deleted", (m) => delete m.files["weights.bin"]],
  ];
  it.each(naiveEdits)("%s by hand → refused as edited since export", async (_what, change) => {
    const out = join(dir, `naive-${Math.random().toString(36).slice(2)}`);
    await writeInferenceBundle(out, net, description);
    edit(out, change, true);
    expect(() => readBundle(out)).toThrow(
      /bundle\.json: edited since export: its contents no longer match its manifestSha256$/,
    );
  });

  const forgedEdits: [string, (out: string) => void, RegExp][] = [
    [
      "weights.bin's entry deleted (checksum recomputed) and weights.bin replaced",
      (out) => {
        edit(out, (m) => delete m.files["weights.bin"]);
        writeFileSync(join(out, "weights.bin"), Buffer.alloc(readFileSync(join(out, "weights.bin")).byteLength));
      },
      /bundle\.json: lists no checksum for weights\.bin$/,
    ],
    [
      "overlap 0.99",
      (out) => edit(out, (m) => (m.inference.overlap = 0.99)),
      /bundle\.json: inference\.overlap: .*0\.9/,
    ],
    [
      "targetSpacing 1e-6",
      (out) => edit(out, (m) => (m.preprocessing.targetSpacing = [1e-6, 1e-6, 1e-6])),
      /bundle\.json: preprocessing\.targetSpacing\.0: .*0\.05/,
    ],
    [
      "a window of 4096",
      (out) => edit(out, (m) => (m.inference.window = [4096, 32, 16])),
      /bundle\.json: inference\.window\.0: .*512/,
    ],
    [
      "labels repeated",
      (out) => edit(out, (m) => (m.labels = ["background", "PZ", "PZ"])),
      /bundle\.json: labels: names repeat$/,
    ],
    ["an unknown key", (out) => edit(out, (m) => Object.assign(m, { extra: 1 })), /bundle\.json: manifest: .*extra/],
    [
      "the manifest checksum removed",
      (out) => edit(out, (m) => delete m.manifestSha256, true),
      /bundle\.json: edited since export/,
    ],
  ];
  it.each(forgedEdits)("%s → refused, naming the field", async (_what, breakIt, pattern) => {
    const out = join(dir, `forged-${Math.random().toString(36).slice(2)}`);
    await writeInferenceBundle(out, net, description);
    breakIt(out);
    expect(() => readBundle(out)).toThrow(InputError);
    expect(() => readBundle(out)).toThrow(pattern);
  });

  it("a voxring-bundle/1 (bundle.json not covered) loads with a warning", async () => {
    const out = join(dir, "old-format");
    await writeInferenceBundle(out, net, description);
    edit(
      out,
      (m) => {
        m.format = "voxring-bundle/1";
        delete m.manifestSha256;
      },
      true,
    );
    const warnings: string[] = [];
    expect(readBundle(out, (w) => warnings.push(w)).labels).toEqual(description.labels);
    expect(warnings).toEqual([
      `warning: ${join(out, "bundle.json")}: format voxring-bundle/1: bundle.json itself is not checksummed`,
    ]);
  });

  it("a target spacing that would resample a case past the voxel limit is refused before resampling", async () => {
    const out = join(dir, "fine-spacing");
    await writeInferenceBundle(out, net, description);
    edit(out, (m) => (m.preprocessing.targetSpacing = [0.1, 0.1, 0.1]));
    const manifest = readBundle(out);
    const shape: [number, number, number] = [64, 64, 64];
    const image = {
      data: new Float32Array(64 ** 3 * 2),
      shape,
      channels: 2,
      spacing: [1, 1, 1] as [number, number, number],
      affine: [] as unknown as never,
    };
    expect(() => preprocess(image, manifest, "case.nii.gz")).toThrow(
      /^case\.nii\.gz: resampled to the bundle's 0\.1×0\.1×0\.1 mm it would have 631×631×631 voxels, more than the limit of 134217728/,
    );
  });
});
