/**
 * The inference bundle: a directory that holds everything needed to segment a case without the run it came
 * from.
 *
 *   BUNDLE/bundle.json   this manifest: channels, labels, preprocessing, window, source, SHA-256 of each file
 *   BUNDLE/model.json    tfjs LayersModel topology (NDHWC in, probabilities out)
 *   BUNDLE/weights.bin   its weights
 *   BUNDLE/model.onnx    the same network for onnxruntime (NCDHW in, probabilities out)
 *
 * The directory is assembled under a temp name next to its destination and renamed into place, so a bundle
 * either exists complete or not at all; reading one verifies every checksum before anything is loaded.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { fsyncDir, writeFileDurable } from "../atomicWrite.js";
import { inputError } from "../errors.js";

/** /2 covers bundle.json itself (manifestSha256); /1 bundles are read with a warning that it is not. */
export const BUNDLE_FORMAT = "voxring-bundle/2";
export const UNCOVERED_BUNDLE_FORMAT = "voxring-bundle/1";
export const MANIFEST_FILE = "bundle.json";
/** Every bundle holds these files, each listed with its checksum: none may be left out of `files`. */
export const REQUIRED_FILES = ["model.json", "weights.bin", "model.onnx"] as const;

/**
 * Bounds on what a bundle may ask for, checked before any work: each is far outside anything a real export
 * writes, and keeps an edited bundle from asking for a 14 GB resampling or a million windows.
 */
export const BUNDLE_LIMITS = {
  /** Target voxel spacing, mm per axis (MRI and CT are 0.2..10 mm). */
  spacingMm: [0.05, 100],
  /** Sliding window side, voxels. */
  windowSide: 512,
  /** Window overlap fraction; 0.9 is already 1000 windows per window-volume. */
  overlap: 0.9,
  /** Feature channels of one U-Net level. */
  modelChannels: 4096,
  /** Input channels (modalities). */
  inputChannels: 64,
} as const;

const spacingMm = z.number().min(BUNDLE_LIMITS.spacingMm[0]).max(BUNDLE_LIMITS.spacingMm[1]);
const triple = z.tuple([spacingMm, spacingMm, spacingMm]);
const side = z.number().int().positive().max(BUNDLE_LIMITS.windowSide);
const intTriple = z.tuple([side, side, side]);
const distinctNames = (names: string[]) => new Set(names).size === names.length;

export const bundleManifestSchema = z.strictObject({
  format: z.enum([BUNDLE_FORMAT, UNCOVERED_BUNDLE_FORMAT]),
  /** SHA-256 of the canonical JSON of this manifest without this field (canonicalJson): any edit shows. */
  manifestSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  voxringVersion: z.string(),
  createdAt: z.string(),
  source: z.object({
    run: z.string(),
    checkpoint: z.string(),
    globalStep: z.number().int().nonnegative(),
    epoch: z.number().int().nonnegative(),
    validation: z.object({ diceMean: z.number(), dice: z.record(z.string(), z.number()) }).nullable(),
  }),
  /** Input channels in the order the network expects them (dataset.json `modality`). */
  channels: z.array(z.string().min(1)).min(1).max(BUNDLE_LIMITS.inputChannels).refine(distinctNames, "names repeat"),
  /** Output classes: index k of the probabilities is label value k (dataset.json `labels`). */
  labels: z.array(z.string().min(1)).min(2).max(256).refine(distinctNames, "names repeat"),
  model: z.object({
    channels: z.array(z.number().int().positive().max(BUNDLE_LIMITS.modelChannels)).min(1).max(8),
    parameters: z.number().int().positive(),
    concatOrder: z.enum(["upsampledFirst", "skipFirst"]),
    batchNormFolded: z.literal(true),
  }),
  preprocessing: z.object({
    /** Images are resampled (trilinear) to this voxel spacing in mm, X Y Z, before inference. */
    targetSpacing: triple,
    interpolation: z.literal("trilinear"),
    /** Each channel is z-scored with its own mean and standard deviation over its nonzero voxels. */
    normalization: z.object({ kind: z.literal("zscore"), perChannel: z.literal(true), nonzeroOnly: z.literal(true) }),
  }),
  inference: z.object({
    /** Sliding window X Y Z (sides multiples of windowMultiple), capped to the resampled volume. */
    window: intTriple,
    windowMultiple: z.number().int().positive().max(BUNDLE_LIMITS.windowSide),
    overlap: z.number().min(0).max(BUNDLE_LIMITS.overlap),
    blending: z.literal("gaussian"),
    sigmaScale: z.number().positive().max(10),
    padValue: z.number().finite(),
  }),
  /**
   * Applied to the argmax label map on the resampled grid, before it goes back to the input grid:
   * "largest-component" keeps only the largest 6-connected foreground component (data/largestComponent.ts).
   * Bundles written before this field existed did none, hence the default.
   */
  postprocess: z.enum(["none", "largest-component"]).default("none"),
  engines: z.object({
    tfjs: z.object({ modelFile: z.string(), layout: z.literal("NDHWC") }),
    onnx: z.object({
      modelFile: z.string(),
      layout: z.literal("NCDHW"),
      opset: z.number().int(),
      input: z.string(),
      output: z.string(),
    }),
  }),
  files: z.record(
    z.string(),
    z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() }),
  ),
});

export type BundleManifest = z.infer<typeof bundleManifestSchema>;

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Writes the bundle directory `out` from its files and manifest (whose `files` entry is filled in here).
 * An existing bundle at `out` is replaced; anything else there is refused.
 */
export function writeBundle(
  out: string,
  files: Record<string, Uint8Array>,
  manifest: Omit<BundleManifest, "files">,
): BundleManifest {
  const target = resolve(out);
  if (existsSync(target) && !existsSync(join(target, MANIFEST_FILE))) {
    throw inputError("--out", `${out} exists and is not a voxring bundle; refusing to replace it`);
  }
  mkdirSync(dirname(target), { recursive: true });
  const full: BundleManifest = {
    ...manifest,
    files: Object.fromEntries(
      Object.entries(files).map(([name, bytes]) => [name, { sha256: sha256(bytes), bytes: bytes.byteLength }]),
    ),
  };
  full.manifestSha256 = manifestDigest(full);
  bundleManifestSchema.parse(full);

  const temp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`);
  const old = join(dirname(target), `.${basename(target)}.old-${process.pid}`);
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp);
  try {
    for (const [name, bytes] of Object.entries(files)) writeFileDurable(join(temp, name), [bytes]);
    writeFileDurable(join(temp, MANIFEST_FILE), [Buffer.from(`${JSON.stringify(full, null, 2)}\n`)]);
    fsyncDir(temp);
    if (existsSync(target)) renameSync(target, old);
    renameSync(temp, target);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
  rmSync(old, { recursive: true, force: true });
  fsyncDir(dirname(target));
  return full;
}

/** Reads and validates bundle.json and checks every listed file's size and SHA-256; InputError names the file. */
export function readBundle(dir: string, warn: (line: string) => void = warnOnStderr): BundleManifest {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw inputError(dir, "no such bundle directory");
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!existsSync(manifestPath)) throw inputError(manifestPath, "missing: not a voxring bundle");
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(manifestPath, "utf8"));
  } catch (error) {
    throw inputError(manifestPath, `not valid JSON (${(error as Error).message})`);
  }
  const result = bundleManifestSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw inputError(manifestPath, `${issue.path.join(".") || "manifest"}: ${issue.message}`);
  }
  const manifest = result.data;
  if (manifest.format === UNCOVERED_BUNDLE_FORMAT) {
    warn(`warning: ${manifestPath}: format ${UNCOVERED_BUNDLE_FORMAT}: bundle.json itself is not checksummed`);
  } else if (manifest.manifestSha256 !== manifestDigest(parsed as Record<string, unknown>)) {
    throw inputError(manifestPath, "edited since export: its contents no longer match its manifestSha256");
  }
  const referenced = [...REQUIRED_FILES, manifest.engines.tfjs.modelFile, manifest.engines.onnx.modelFile];
  for (const name of referenced) {
    if (!manifest.files[name]) throw inputError(manifestPath, `lists no checksum for ${name}`);
  }
  for (const [name, expected] of Object.entries(manifest.files)) {
    const path = join(dir, name);
    if (basename(name) !== name) throw inputError(manifestPath, `file name ${name} must not contain a path`);
    if (!existsSync(path)) throw inputError(path, "missing from the bundle");
    const bytes = readFileSync(path);
    if (bytes.byteLength !== expected.bytes || sha256(bytes) !== expected.sha256) {
      throw inputError(path, "checksum mismatch: the file was altered or truncated since export");
    }
  }
  return manifest;
}

/** SHA-256 of the manifest without its manifestSha256, keys sorted at every level (editors may reorder). */
export function manifestDigest(manifest: Record<string, unknown>): string {
  const { manifestSha256: _own, ...rest } = manifest;
  return sha256(Buffer.from(canonicalJson(rest)));
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function warnOnStderr(line: string): void {
  process.stderr.write(`orchestrate: ${line}\n`);
}

let version: string | undefined;

/** voxring's own version, from the package.json above this file (works from src/ and dist/). */
export function voxringVersion(): string {
  version ??= findPackageVersion();
  return version;
}

function findPackageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    const candidate = join(dir, "package.json");
    if (!existsSync(candidate)) continue;
    const pkg = JSON.parse(readFileSync(candidate, "utf8")) as { name?: string; version?: string };
    if (pkg.name === "voxring" && pkg.version) return pkg.version;
  }
  return "unknown";
}
