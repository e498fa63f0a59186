/**
 * The dataset check `orchestrate check` prints and `train` runs before it writes or starts anything (in the
 * spirit of nnU-Net's verify_dataset_integrity): every case of dataset.json read once, one at a time, through
 * the same loader and checks a worker applies, so a bad case is found in seconds, not when some rank reaches
 * it mid-epoch.
 *
 *   const report = await checkDataset("data/Task05_Prostate");
 *   if (report.problems.length > 0) for (const line of problemLines(report)) console.error(line);
 *   await requireCheckedDataset(dir);   // InputError naming the first bad case, for train
 */
import { InputError, inputError } from "../errors.js";
import { type DecathlonListing, readDecathlonJson } from "./decathlon.js";
import { checkedImage, loadCase } from "./loadCase.js";
import { maxNiftiBytes, readNifti } from "./nifti/read.js";

export interface CaseProblem {
  /** case id (file name without .nii.gz) */
  case: string;
  /** the file at fault (the image, the label map, or dataset.json) */
  file: string;
  /** what is wrong, one line */
  reason: string;
}

export interface DatasetReport {
  dir: string;
  name: string;
  /** training cases checked (image and label each) */
  cases: number;
  /** test images checked (image alone) */
  testImages: number;
  channels: string[];
  /** class names by label value */
  labels: string[];
  /** voxels per label value over the training cases that passed */
  labelVoxels: number[];
  /** what every file was checked for, in words */
  checks: string[];
  /** one per bad case (its first problem), in dataset.json's order */
  problems: CaseProblem[];
  seconds: number;
}

/** The tolerance of loadCase's image/label affine comparison (absolute, per element). */
const AFFINE_TOLERANCE = "1e-3";

/**
 * Checks every training case (and listed test image) of a Decathlon directory. dataset.json problems throw
 * (InputError); a bad case becomes a CaseProblem and the check goes on. Cases are read one at a time and
 * dropped, so memory stays at about one case whatever the dataset's size.
 */
export async function checkDataset(dir: string): Promise<DatasetReport> {
  const started = performance.now();
  const dataset = await readDecathlonJson(dir);
  // A bad limit variable is one problem of the environment, not one per case.
  const maxBytes = maxNiftiBytes();
  const problems: CaseProblem[] = [];
  const labelVoxels = new Array<number>(dataset.labels.length).fill(0);
  for (const entry of dataset.cases) {
    try {
      const loaded = await loadCase(dataset, entry, { maxBytes });
      const labels = loaded.label.data;
      for (let i = 0; i < labels.length; i++) labelVoxels[labels[i]]++;
    } catch (error) {
      problems.push(problemOf(entry.id, entry.image, error));
    }
  }
  for (const path of dataset.testImages) {
    try {
      checkedImage(dataset, path, await readNifti(path, { maxBytes }));
    } catch (error) {
      problems.push(problemOf(caseIdOf(path), path, error));
    }
  }
  return {
    dir: dataset.dir,
    name: dataset.name,
    cases: dataset.cases.length,
    testImages: dataset.testImages.length,
    channels: dataset.channels,
    labels: dataset.labels,
    labelVoxels,
    checks: checksOf(dataset, maxBytes),
    problems,
    seconds: (performance.now() - started) / 1000,
  };
}

function checksOf(dataset: DecathlonListing, maxBytes: number): string[] {
  const k = dataset.labels.length;
  return [
    "every listed file exists and is a readable NIfTI (gzip intact, no data beyond its header)",
    `no file's header describes more than ${maxBytes} bytes (VOXRING_MAX_NIFTI_BYTES)`,
    "dimensions positive, spacing positive and finite, affine finite and non-singular",
    `images have ${dataset.channels.length} channel(s) (${dataset.channels.join(", ")}), every voxel finite`,
    `label maps are 3D on their image's grid (same shape, affine within ${AFFINE_TOLERANCE})`,
    `label values are integers in 0..${k - 1} (${dataset.labels.join(", ")})`,
  ];
}

/** A bad case's error as a problem; anything but an InputError is a bug and escapes. */
function problemOf(caseId: string, fallbackFile: string, error: unknown): CaseProblem {
  if (!(error instanceof InputError)) throw error;
  if (error.where !== undefined && error.what !== undefined) {
    return { case: caseId, file: error.where, reason: error.what };
  }
  return { case: caseId, file: fallbackFile, reason: error.message };
}

function caseIdOf(path: string): string {
  return (path.split(/[\\/]/).pop() ?? path).replace(/\.nii(\.gz)?$/, "");
}

function tests(report: DatasetReport): string {
  return report.testImages > 0 ? ` and ${report.testImages} test image(s)` : "";
}

/** One line per bad case, at most `max`, then "... and K more". */
export function problemLines(report: DatasetReport, max = 5): string[] {
  const lines = report.problems.slice(0, max).map((p) => `${p.case}: ${p.file}: ${p.reason}`);
  if (report.problems.length > max) lines.push(`... and ${report.problems.length - max} more`);
  return lines;
}

/** What a passing check says: the dataset, what was checked, and the label balance. */
export function formatReport(report: DatasetReport): string {
  const total = report.labelVoxels.reduce((a, b) => a + b, 0) || 1;
  const labels = report.labels
    .map((name, v) => `${v}: ${name} ${((100 * report.labelVoxels[v]) / total).toFixed(2)}%`)
    .join(", ");
  return [
    `${report.dir}${report.name ? ` (${report.name})` : ""}: ${report.cases} training case(s)${tests(report)} checked in ${report.seconds.toFixed(1)} s`,
    `channels: ${report.channels.length} (${report.channels.map((c, i) => `${i}: ${c}`).join(", ")})`,
    `labels: {${labels}} of the labelled voxels`,
    "checks:",
    ...report.checks.map((c) => `  ${c}`),
    "",
  ].join("\n");
}

/**
 * For train, before it writes or starts anything: the check, or an InputError naming the first bad case
 * (and how to see them all).
 */
export async function requireCheckedDataset(dir: string): Promise<DatasetReport> {
  const report = await checkDataset(dir);
  const [first] = report.problems;
  if (first) {
    throw inputError(
      dir,
      `dataset check failed for ${report.problems.length} of ${report.cases} case(s)${tests(report)}, first ${first.case}: ${first.file}: ${first.reason} (orchestrate check --data ${dir} lists them)`,
    );
  }
  return report;
}
