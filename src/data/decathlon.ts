import { readFile, stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { inputError } from "../errors.js";
import { Rng } from "../random.js";

/**
 * A Medical Segmentation Decathlon task directory: dataset.json with `modality` (channel names by index),
 * `labels` (class names by value) and `training` ({image, label} paths relative to the directory, as in
 * "./imagesTr/prostate_16.nii.gz"). Channel and class names always come from here, never from code.
 */
export interface DecathlonCase {
  /** file name without .nii.gz, e.g. prostate_16 */
  id: string;
  image: string;
  label: string;
}

export interface DecathlonDataset {
  dir: string;
  name: string;
  /** channel names by index, e.g. ["T2", "ADC"] */
  channels: string[];
  /** class names by label value 0..K−1, e.g. ["background", "PZ", "TZ"] */
  labels: string[];
  cases: DecathlonCase[];
}

const indexedNames = z.record(z.string().regex(/^\d+$/, "keys must be non-negative integers"), z.string());
const datasetSchema = z.object({
  name: z.string().optional(),
  modality: indexedNames,
  labels: indexedNames,
  training: z.array(z.object({ image: z.string().min(1), label: z.string().min(1) })).min(1),
  /** Task05 lists test images as paths; some tools write {image} objects. */
  test: z.array(z.union([z.string().min(1), z.object({ image: z.string().min(1) })])).optional(),
});

/** dataset.json as parsed, with the test images it lists (unlabelled; training never reads them). */
export interface DecathlonListing extends DecathlonDataset {
  testImages: string[];
}

/** Reads and checks dataset.json and that every training file exists; InputError naming the problem. */
export async function loadDecathlon(dir: string): Promise<DecathlonListing> {
  const dataset = await readDecathlonJson(dir);
  await Promise.all(dataset.cases.flatMap((c) => [mustExist(c.image), mustExist(c.label)]));
  return dataset;
}

/** Reads and checks dataset.json alone (paths resolved, files not looked at); InputError naming the problem. */
export async function readDecathlonJson(dir: string): Promise<DecathlonListing> {
  const jsonPath = join(dir, "dataset.json");
  let text: string;
  try {
    text = await readFile(jsonPath, "utf8");
  } catch {
    throw inputError(jsonPath, "no such file (expected a Decathlon task directory)");
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw inputError(jsonPath, `not valid JSON (${(error as Error).message})`);
  }
  const parsed = datasetSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw inputError(jsonPath, `${issue.path.join(".") || "top level"}: ${issue.message}`);
  }
  const json = parsed.data;
  const channels = contiguousNames(jsonPath, "modality", json.modality);
  const labels = contiguousNames(jsonPath, "labels", json.labels);
  if (labels.length < 2) throw inputError(jsonPath, "labels: need at least background and one class");
  if (labels.length > 255) throw inputError(jsonPath, "labels: at most 255 classes");
  const cases = json.training.map((entry) => ({
    id: caseId(entry.image),
    image: resolveIn(dir, entry.image),
    label: resolveIn(dir, entry.label),
  }));
  const testImages = (json.test ?? []).map((t) => resolveIn(dir, typeof t === "string" ? t : t.image));
  return { dir: resolve(dir), name: json.name ?? "", channels, labels, cases, testImages };
}

function contiguousNames(jsonPath: string, field: string, names: Record<string, string>): string[] {
  const keys = Object.keys(names).map(Number);
  const out: string[] = [];
  for (let i = 0; i < keys.length; i++) {
    if (!(String(i) in names))
      throw inputError(jsonPath, `${field}: keys must be 0..${keys.length - 1}, ${i} is missing`);
    out.push(names[String(i)]);
  }
  if (out.length === 0) throw inputError(jsonPath, `${field}: empty`);
  return out;
}

function resolveIn(dir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dir, path);
}

function caseId(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? path;
  return base.replace(/\.nii(\.gz)?$/, "");
}

async function mustExist(path: string): Promise<void> {
  try {
    if (!(await stat(path)).isFile()) throw new Error();
  } catch {
    throw inputError(path, "no such file (listed in dataset.json)");
  }
}

/** Fractions of the reference model's 21 / 6 / 5 split of Task05's 32 cases. */
export const DEFAULT_SPLIT = { validation: 6 / 32, test: 5 / 32 } as const;

export interface SplitOptions {
  seed: number;
  /** Share of cases for validation (at least one case). Default 6/32. */
  validation?: number;
  /** Share held out for testing (may round to none). Default 5/32. */
  test?: number;
}

export interface Split<T> {
  train: T[];
  validation: T[];
  test: T[];
}

/** A seeded shuffle cut into train / validation / test; each part keeps the original order of its cases. */
export function splitCases<T>(cases: readonly T[], options: SplitOptions): Split<T> {
  const validationShare = options.validation ?? DEFAULT_SPLIT.validation;
  const testShare = options.test ?? DEFAULT_SPLIT.test;
  if (!(validationShare > 0 && validationShare < 1))
    throw inputError("validation fraction", `must be in (0, 1), got ${validationShare}`);
  if (!(testShare >= 0 && testShare < 1)) throw inputError("test fraction", `must be in [0, 1), got ${testShare}`);
  if (validationShare + testShare >= 1)
    throw inputError("validation + test fractions", "must leave cases for training");
  const n = cases.length;
  if (n < 2) throw inputError("dataset", `needs at least 2 training cases for a train/validation split, has ${n}`);
  const validation = Math.min(Math.max(1, Math.round(n * validationShare)), n - 1);
  const test = Math.min(Math.round(n * testShare), n - 1 - validation);
  const order = new Rng(options.seed).shuffle([...Array(n).keys()]);
  const pick = (indices: number[]) => indices.sort((a, b) => a - b).map((i) => cases[i]);
  return {
    validation: pick(order.slice(0, validation)),
    test: pick(order.slice(validation, validation + test)),
    train: pick(order.slice(validation + test)),
  };
}
