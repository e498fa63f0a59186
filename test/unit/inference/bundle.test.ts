import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../../src/errors.js";
import { readBundle, sha256 } from "../../../src/inference/bundle.js";
import { orderedNames, writeInferenceBundle } from "../../../src/inference/export.js";
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
  files: Record<string, { sha256: string }>;
  labels?: string[];
}

function edit(out: string, change: (manifest: EditableManifest) => void): void {
  const path = join(out, "bundle.json");
  const manifest = JSON.parse(readFileSync(path, "utf8")) as EditableManifest;
  change(manifest);
  writeFileSync(path, JSON.stringify(manifest));
}
