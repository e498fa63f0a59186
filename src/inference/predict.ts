/**
 * `orchestrate predict`: segment one case or a directory of cases with an exported bundle.
 *
 *   orchestrate predict --model bundles/p1 --in case.nii.gz --out mask.nii.gz --png mask.png
 *   orchestrate predict --model bundles/p1 --in t2.nii.gz --in adc.nii.gz --out mask.nii.gz --engine onnx
 *   orchestrate predict --model bundles/p1 --in cases/ --out masks/ --png previews/
 *
 * Order of work: verify the bundle, check every output path, then per case read + check the inputs, infer,
 * write. Anything this call wrote is removed again when a later step fails, so a failed predict leaves no
 * output behind.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { writeNifti } from "../data/nifti/index.js";
import { inputError } from "../errors.js";
import { type BundleManifest, readBundle } from "./bundle.js";
import { predictCase, readCase } from "./predictCase.js";
import { createEngine, type EngineName, type InferenceEngine } from "./predictEngine.js";
import { writePredictionPreview } from "./predictPreview.js";

export interface PredictOptions {
  /** Bundle directory. */
  model: string;
  /** One 4D file, one 3D file per channel, or one directory of 4D cases. */
  inputs: string[];
  /** Mask file, or a directory when the input is a directory. */
  out: string;
  /** Preview PNG file, or a directory of previews when the input is a directory. */
  png?: string;
  engine: EngineName;
  threads?: number;
  log?: (line: string) => void;
}

export interface PredictedCase {
  inputs: string[];
  mask: string;
  png?: string;
  shape: [number, number, number];
  resampledShape: [number, number, number];
  windows: number;
  seconds: number;
  /** Voxels per label value, in the bundle's label order. */
  counts: Record<string, number>;
}

interface PlannedCase {
  inputs: string[];
  mask: string;
  png?: string;
}

const NIFTI = /\.nii(\.gz)?$/;

export async function runPredict(options: PredictOptions): Promise<PredictedCase[]> {
  const log = options.log ?? (() => {});
  const manifest = readBundle(options.model);
  const { cases, createdDirs } = planCases(options);
  const written: string[] = [];
  // The engine is made once the first case has been read and checked, so bad input fails before any backend
  // or model loads.
  let engine: InferenceEngine | undefined;
  const getEngine = async () => {
    engine ??= await createEngine(options.model, manifest, options.engine, { threads: options.threads });
    return engine;
  };
  try {
    const results: PredictedCase[] = [];
    for (const planned of cases) results.push(await runCase(planned, manifest, getEngine, written, log));
    return results;
  } catch (error) {
    for (const path of written) rmSync(path, { force: true });
    for (const dir of createdDirs.reverse()) rmSync(dir, { recursive: true, force: true });
    throw error;
  } finally {
    await engine?.dispose();
  }
}

async function runCase(
  planned: PlannedCase,
  manifest: BundleManifest,
  getEngine: () => Promise<InferenceEngine>,
  written: string[],
  log: (line: string) => void,
): Promise<PredictedCase> {
  const started = performance.now();
  const input = await readCase(planned.inputs, manifest);
  const engine = await getEngine();
  const prediction = await predictCase(input, manifest, engine);
  await writeNifti(planned.mask, {
    shape: prediction.shape,
    data: prediction.labels,
    datatype: "uint8",
    affine: input.reference.affine,
    description: `voxring ${manifest.voxringVersion} mask`,
  });
  written.push(planned.mask);
  if (planned.png) {
    writePredictionPreview(planned.png, {
      image: input.image,
      labels: prediction.labels,
      labelNames: manifest.labels,
      greyChannel: greyChannel(manifest),
      title: basename(planned.inputs[0]).replace(NIFTI, ""),
    });
    written.push(planned.png);
  }
  const counts = Object.fromEntries(manifest.labels.map((name) => [name, 0]));
  for (const k of prediction.labels) counts[manifest.labels[k]]++;
  const seconds = (performance.now() - started) / 1000;
  log(
    `${planned.inputs.join(" + ")} → ${planned.mask} (${prediction.shape.join("×")}, ` +
      `${prediction.windows} windows on ${prediction.resampledShape.join("×")}, ${engine.name}, ${seconds.toFixed(1)} s)`,
  );
  return {
    ...planned,
    shape: prediction.shape,
    resampledShape: prediction.resampledShape,
    windows: prediction.windows,
    seconds,
    counts,
  };
}

/** The channel drawn in grey in previews: the one named T2 when there is one, else the first. */
function greyChannel(manifest: BundleManifest): number {
  const t2 = manifest.channels.findIndex((name) => /t2/i.test(name));
  return Math.max(t2, 0);
}

/** Works out inputs and outputs of every case before any work, so bad paths fail fast and leave nothing. */
function planCases(options: PredictOptions): { cases: PlannedCase[]; createdDirs: string[] } {
  const { inputs, out, png } = options;
  if (inputs.length === 0) throw inputError("--in", "no input given");
  const isDir = (path: string) => existsSync(path) && statSync(path).isDirectory();
  const createdDirs: string[] = [];

  if (inputs.length === 1 && isDir(inputs[0])) {
    const dir = inputs[0];
    const files = readdirSync(dir)
      .filter((name) => NIFTI.test(name) && !name.startsWith("."))
      .sort();
    if (files.length === 0) throw inputError(dir, "holds no .nii or .nii.gz file");
    const outputs = [
      ["--out", out],
      ["--png", png],
    ] as const;
    for (const [flag, path] of outputs) {
      if (path && existsSync(path) && !isDir(path)) {
        throw inputError(flag, `${path} is a file; with a directory of cases it must be a directory`);
      }
    }
    for (const [, path] of outputs) if (path) makeDir(path, createdDirs);
    const cases = files.map((name) => ({
      inputs: [join(dir, name)],
      mask: join(out, name.endsWith(".nii") ? `${name}.gz` : name),
      png: png ? join(png, `${name.replace(NIFTI, "")}.png`) : undefined,
    }));
    return { cases, createdDirs };
  }

  for (const path of inputs) if (isDir(path)) throw inputError(path, "a directory of cases must be the only --in");
  if (!NIFTI.test(out)) throw inputError("--out", `${out} must end in .nii.gz or .nii`);
  if (isDir(out)) throw inputError("--out", `${out} is a directory; give the mask's file name`);
  if (png && !png.endsWith(".png")) throw inputError("--png", `${png} must end in .png`);
  makeDir(dirname(out), createdDirs);
  if (png) makeDir(dirname(png), createdDirs);
  return { cases: [{ inputs, mask: out, png }], createdDirs };
}

/** mkdir -p that remembers the topmost directory it created, for clean-up after a failure. */
function makeDir(path: string, created: string[]): void {
  const first = mkdirSync(path, { recursive: true });
  if (first) created.push(first);
}
