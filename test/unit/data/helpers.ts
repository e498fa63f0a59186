import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Affine } from "../../../src/data/nifti/affine.js";
import { writeNifti } from "../../../src/data/nifti/write.js";
import type { Shape3, Volume } from "../../../src/data/volume.js";
import { Rng } from "../../../src/random.js";

export function tempDir(prefix = "voxring-data-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function randomImage(
  rng: Rng,
  shape: Shape3,
  channels: number,
  spacing: Shape3 = [1, 1, 1],
): Volume<Float32Array> {
  const data = new Float32Array(shape[0] * shape[1] * shape[2] * channels);
  for (let i = 0; i < data.length; i++) data[i] = rng.uniform(-5, 5);
  return { data, shape, channels, spacing, affine: diag(spacing) };
}

export function randomLabels(
  rng: Rng,
  shape: Shape3,
  classes: number,
  spacing: Shape3 = [1, 1, 1],
): Volume<Uint8Array> {
  const data = new Uint8Array(shape[0] * shape[1] * shape[2]);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(classes);
  return { data, shape, channels: 1, spacing, affine: diag(spacing) };
}

export function diag(spacing: readonly number[]): Affine {
  return [
    [spacing[0], 0, 0, 0],
    [0, spacing[1], 0, 0],
    [0, 0, spacing[2], 0],
    [0, 0, 0, 1],
  ];
}

/** Element (x, y, z, c) of a channels-last volume. */
export function at(v: Volume, x: number, y: number, z: number, c = 0): number {
  return v.data[((z * v.shape[1] + y) * v.shape[0] + x) * v.channels + c];
}

export interface TinyCase {
  image?: { shape: number[]; data: Float32Array; affine?: Affine };
  /** uint8 unless the data is another typed array (a float32 label map, say) */
  label?: { shape: number[]; data: Uint8Array | Float32Array; affine?: Affine };
}

/**
 * A small Decathlon-layout dataset of random 2-channel cases (7×6×5 at 0.5×0.5×2 mm unless overridden),
 * with dataset.json like Task05's. `tweak(i)` replaces parts of case i to make bad input.
 */
export async function writeTinyDataset(dir: string, count: number, tweak: (i: number) => TinyCase = () => ({})) {
  const rng = new Rng(5);
  mkdirSync(join(dir, "imagesTr"), { recursive: true });
  mkdirSync(join(dir, "labelsTr"), { recursive: true });
  const affine = diag([0.5, 0.5, 2]);
  const training = [];
  for (let i = 0; i < count; i++) {
    const shape = [7, 6, 5];
    const image = new Float32Array(7 * 6 * 5 * 2).map(() => rng.uniform(1, 100));
    const label = new Uint8Array(7 * 6 * 5).map(() => rng.int(3));
    const t = tweak(i);
    const id = `prostate_${String(i).padStart(2, "0")}`;
    const img = t.image ?? { shape: [...shape, 2], data: image };
    const lab = t.label ?? { shape, data: label };
    await writeNifti(join(dir, "imagesTr", `${id}.nii.gz`), { ...img, affine: img.affine ?? affine });
    await writeNifti(join(dir, "labelsTr", `${id}.nii.gz`), { ...lab, affine: lab.affine ?? affine });
    training.push({ image: `./imagesTr/${id}.nii.gz`, label: `./labelsTr/${id}.nii.gz` });
  }
  const json = {
    name: "Prostate",
    modality: { "0": "T2", "1": "ADC" },
    labels: { "0": "background", "1": "PZ", "2": "TZ" },
    numTraining: count,
    training,
  };
  writeFileSync(join(dir, "dataset.json"), JSON.stringify(json));
  return json;
}
