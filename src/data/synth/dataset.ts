import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../atomicWrite.js";
import { inputError } from "../../errors.js";
import { Rng } from "../../random.js";
import { writeNifti } from "../nifti/write.js";
import { generatePhantom } from "./phantom.js";

export interface SynthOptions {
  cases: number;
  seed: number;
  /** gzip level; 1 keeps a 32-case dataset well under a minute and the files are mostly noise anyway. */
  level?: number;
}

/** Task05's dataset.json, with our phantom cases as the training list. */
export function taskDatasetJson(caseIds: string[]): Record<string, unknown> {
  return {
    name: "Prostate",
    description: "Synthetic prostate phantoms in the layout of Task05 (voxring synth): transition and peripheral zone",
    reference: "voxring synthetic phantom generator",
    licence: "CC-BY-SA 4.0",
    release: "1.0",
    tensorImageSize: "4D",
    modality: { "0": "T2", "1": "ADC" },
    labels: { "0": "background", "1": "PZ", "2": "TZ" },
    numTraining: caseIds.length,
    numTest: 0,
    training: caseIds.map((id) => ({ image: `./imagesTr/${id}.nii.gz`, label: `./labelsTr/${id}.nii.gz` })),
    test: [],
  };
}

/**
 * Writes `cases` phantoms to dir/imagesTr and dir/labelsTr and dir/dataset.json, deterministically: the same
 * seed writes the same bytes. Case i depends only on (seed, i). Compression runs on libuv's threads while the
 * next case is generated. dataset.json is written last, so a dataset with one is complete.
 */
export async function writeSyntheticDataset(dir: string, options: SynthOptions): Promise<string[]> {
  const { cases, seed } = options;
  if (!Number.isInteger(cases) || cases < 1 || cases > 9999)
    throw inputError("--cases", `must be an integer in 1..9999, got ${cases}`);
  if (!Number.isInteger(seed)) throw inputError("--seed", `must be an integer, got ${seed}`);
  mkdirSync(join(dir, "imagesTr"), { recursive: true });
  mkdirSync(join(dir, "labelsTr"), { recursive: true });
  const master = new Rng(seed);
  const ids: string[] = [];
  let pending: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < cases; i++) {
    const id = `prostate_${String(i).padStart(2, "0")}`;
    ids.push(id);
    const phantom = generatePhantom(master.fork());
    // At most one case in flight while the next is generated: bounded memory, both cores busy.
    await pending;
    const level = options.level ?? 1;
    pending = Promise.all([
      writeNifti(join(dir, "imagesTr", `${id}.nii.gz`), {
        shape: [...phantom.shape, 2],
        data: phantom.image,
        datatype: "float32",
        affine: phantom.affine,
        level,
      }),
      writeNifti(join(dir, "labelsTr", `${id}.nii.gz`), {
        shape: phantom.shape,
        data: phantom.labels,
        datatype: "uint8",
        affine: phantom.affine,
        level,
      }),
    ]);
  }
  await pending;
  writeFileAtomic(join(dir, "dataset.json"), `${JSON.stringify(taskDatasetJson(ids), null, 2)}\n`);
  return ids;
}
