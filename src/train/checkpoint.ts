/**
 * Checkpoints: the complete training state at a step boundary, and the one way to read it back.
 *
 * On disk, RUN/checkpoints/step-00000123/ holds
 *   checkpoint.json  the header: every field of `Checkpoint` except tensor data, plus each tensor's
 *                    {name, shape, offset, length} (offset and length in float32 elements into tensors.bin)
 *   tensors.bin      raw little-endian float32: params, BN stats, Adam m, Adam v, back to back
 * The directory is written under a temp name, fsynced and renamed: a step-* entry exists only once complete.
 * RUN/checkpoints/best is a directory of hard links to the checkpoint with the best mean validation Dice.
 *
 * Other code (export, predict) never parses these files by hand: call `readCheckpoint(path)` where path is
 * a checkpoint directory, or `resolveCheckpoint(runDir, "best" | "last" | path)` first.
 */
import { createHash } from "node:crypto";
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import type { z } from "zod";
import { fsyncDir, writeFileAtomic, writeFileDurable } from "../atomicWrite.js";
import { asEnvironmentError, InputError, inputError } from "../errors.js";
import type { NamedArray } from "../model/paramLayout.js";
import {
  CHECKPOINT_FORMAT,
  type CheckpointHeader,
  firstIssue,
  headerSchema,
  MAX_HEADER_BYTES,
  type TensorEntry,
  UNCHECKED_CHECKPOINT_FORMAT,
  validationSchema,
} from "./checkpointSchema.js";
import type { TrainConfig } from "./config.js";
import type { LossScaleState } from "./lossScale.js";

export { CHECKPOINT_FORMAT } from "./checkpointSchema.js";

const VALIDATION_FILE = "validation.json";

/** What a checkpoint holds; write and resume use this same record. */
export interface Checkpoint {
  /** Steps completed over the whole run; a resumed run's next step is this one. */
  globalStep: number;
  /** Epoch of the next step, and how many of that epoch's steps are already done. */
  epoch: number;
  stepInEpoch: number;
  stepsPerEpoch: number;
  /** Trainable parameters in UNet.params order, then batch-norm running statistics in UNet.stats order. */
  params: NamedArray[];
  stats: NamedArray[];
  /** Adam state over the flat parameter vector (same order as params). */
  optimizer: { step: number; m: Float32Array; v: Float32Array };
  /** The dynamic loss scaler's state (--amp), as its own getState() returns it; null without --amp. */
  lossScale: LossScaleState | null;
  /** Steps skipped for non-finite gradients so far. */
  skippedSteps: number;
  /**
   * Randomness: every draw of a step comes from Rng(stepSeed(seed, rank, globalStep)) (train/runContext.ts)
   * and the split and shards from the seed, so seed and globalStep restore it all.
   */
  rng: { seed: number };
  /** This epoch's case order: shard[r] lists the training case indices of rank r. */
  dataOrder: number[][];
  /** Model and dataset facts that inference needs. */
  model: { inChannels: number; numClasses: number; channels: number[] };
  dataset: {
    labels: Record<string, string>;
    modality: Record<string, string>;
    trainCases: string[];
    valCases: string[];
  };
  config: TrainConfig;
  /** Validation at this checkpoint, when one ran. */
  validation: { diceMean: number; dice: Record<string, number> } | null;
  bestDiceMean: number | null;
  restarts: number;
  savedAt: string;
}

type Header = CheckpointHeader;

export function checkpointsDir(runDir: string): string {
  return join(runDir, "checkpoints");
}

export function checkpointName(globalStep: number): string {
  return `step-${String(globalStep).padStart(8, "0")}`;
}

/**
 * Writes a checkpoint atomically into RUN/checkpoints/step-N and returns its path. A failed write (a full
 * disk) removes the temp directory, leaves every earlier checkpoint as it was and throws an EnvironmentError
 * naming the file and the step.
 */
export function writeCheckpoint(runDir: string, ckpt: Checkpoint): string {
  const dir = checkpointsDir(runDir);
  const final = join(dir, checkpointName(ckpt.globalStep));
  const temp = join(dir, `.tmp-${checkpointName(ckpt.globalStep)}-${process.pid}`);
  let writing = dir;
  try {
    mkdirSync(dir, { recursive: true });
    rmSync(temp, { recursive: true, force: true });
    mkdirSync(temp);

    const tensors: TensorEntry[] = [];
    const chunks: Uint8Array[] = [];
    const sha = createHash("sha256");
    let offset = 0;
    const add = (group: TensorEntry["group"], name: string, shape: number[], data: Float32Array) => {
      tensors.push({ group, name, shape, offset, length: data.length });
      const bytes = toLittleEndianBytes(data);
      chunks.push(bytes);
      sha.update(bytes);
      offset += data.length;
    };
    for (const p of ckpt.params) add("params", p.name, p.shape, p.data);
    for (const s of ckpt.stats) add("stats", s.name, s.shape, s.data);
    add("adam_m", "m", [ckpt.optimizer.m.length], ckpt.optimizer.m);
    add("adam_v", "v", [ckpt.optimizer.v.length], ckpt.optimizer.v);

    const { params: _p, stats: _s, optimizer, ...rest } = ckpt;
    const checksums = { "tensors.bin": sha.digest("hex") };
    const header: Header = { format: CHECKPOINT_FORMAT, ...rest, optimizerStep: optimizer.step, tensors, checksums };
    writing = join(temp, "tensors.bin");
    writeFileDurable(writing, chunks);
    writing = join(temp, "checkpoint.json");
    writeFileDurable(writing, [Buffer.from(`${JSON.stringify(header, null, 1)}\n`)]);
    fsyncDir(temp);
    writing = final;
    rmSync(final, { recursive: true, force: true }); // a re-run of the same step after a restart replaces it
    renameSync(temp, final);
    fsyncDir(dir);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw asEnvironmentError(error, writing, `checkpoint ${checkpointName(ckpt.globalStep)} (${basename(writing)})`);
  }
  return final;
}

/**
 * Reads a checkpoint directory (as written by writeCheckpoint), verifying it whole before any of it is used:
 * the header against its schema, tensors.bin against the header's size and SHA-256, every value finite.
 * Throws InputError naming the file and what is wrong. `warn` hears about an old unchecksummed format.
 */
export function readCheckpoint(path: string, warn: (line: string) => void = warnOnStderr): Checkpoint {
  const headerPath = join(path, "checkpoint.json");
  const binPath = join(path, "tensors.bin");
  if (!existsSync(headerPath) || !existsSync(binPath)) {
    throw inputError(path, "not a voxring checkpoint (expected checkpoint.json and tensors.bin)");
  }
  const header = parseFile(headerPath, headerSchema);
  if (header.format === UNCHECKED_CHECKPOINT_FORMAT) {
    warn(`warning: ${headerPath}: format ${UNCHECKED_CHECKPOINT_FORMAT} has no checksum; tensors.bin is not verified`);
  }
  const total = header.tensors.reduce((n, t) => n + t.length, 0);
  const size = statSync(binPath).size;
  if (size !== total * 4) throw inputError(binPath, `holds ${size} bytes, the header describes ${total * 4}`);
  const bytes = readFileSync(binPath);
  const expected = header.checksums?.["tensors.bin"];
  if (expected !== undefined) {
    const actual = createHash("sha256").update(bytes).digest("hex");
    if (actual !== expected)
      throw inputError(binPath, `SHA-256 ${actual.slice(0, 12)}… differs from the header's ${expected.slice(0, 12)}…`);
  }
  const all = fromLittleEndianBytes(bytes);
  for (const t of header.tensors) {
    const at = firstNonFinite(all, t.offset, t.offset + t.length);
    if (at >= 0) throw inputError(binPath, `${t.group} ${t.name} holds ${all[at]} at element ${at - t.offset}`);
  }
  const pick = (group: TensorEntry["group"]) =>
    header.tensors
      .filter((t) => t.group === group)
      .map((t) => ({ name: t.name, shape: t.shape, data: all.slice(t.offset, t.offset + t.length) }));
  const { format: _f, tensors: _t, checksums: _c, optimizerStep, ...rest } = header;
  const validationPath = join(path, VALIDATION_FILE);
  if (existsSync(validationPath)) rest.validation = parseFile(validationPath, validationSchema);
  return {
    ...rest,
    params: pick("params"),
    stats: pick("stats"),
    optimizer: { step: optimizerStep, m: pick("adam_m")[0].data, v: pick("adam_v")[0].data },
  };
}

/**
 * The newest checkpoint of a run that reads back intact. Each damaged one met on the way is named, with what is
 * wrong, in one line; none intact → InputError (exit 2).
 */
export function readNewestIntactCheckpoint(runDir: string, log: (line: string) => void): Checkpoint {
  const all = listCheckpoints(runDir);
  if (all.length === 0) throw inputError(runDir, "has no checkpoint yet");
  let newestProblem = "";
  for (let i = all.length - 1; i >= 0; i--) {
    try {
      return readCheckpoint(all[i], log);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      newestProblem ||= error.message;
      const next = i > 0 ? `falling back to ${basename(all[i - 1])}` : "no older checkpoint";
      log(`damaged checkpoint: ${error.message}; ${next}`);
    }
  }
  throw inputError(runDir, `no intact checkpoint (${all.length} damaged; the newest: ${newestProblem})`);
}

function parseFile<T>(path: string, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    const size = statSync(path).size;
    if (size > MAX_HEADER_BYTES) throw new Error(`${size} bytes, more than ${MAX_HEADER_BYTES}`);
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw inputError(path, `unreadable (${(error as Error).message})`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw inputError(path, firstIssue(parsed.error));
  return parsed.data;
}

function firstNonFinite(values: Float32Array, from: number, to: number): number {
  for (let i = from; i < to; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

function warnOnStderr(line: string): void {
  process.stderr.write(`orchestrate: ${line}\n`);
}

/**
 * Validation runs after the checkpoint is on disk (the ranks keep training meanwhile): its result is added
 * to the complete checkpoint directory as a file of its own, which readCheckpoint folds into `validation`.
 */
export function writeCheckpointValidation(path: string, validation: NonNullable<Checkpoint["validation"]>): void {
  writeFileAtomic(join(path, VALIDATION_FILE), `${JSON.stringify(validation)}\n`);
}

/** Checkpoint directories of a run, oldest first (by step). */
export function listCheckpoints(runDir: string): string[] {
  const dir = checkpointsDir(runDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => /^step-\d+$/.test(name))
    .sort()
    .map((name) => join(dir, name));
}

/** "best", "last", or a checkpoint directory → the checkpoint directory; InputError when there is none. */
export function resolveCheckpoint(runDir: string, which: string): string {
  if (which === "best") {
    const best = join(checkpointsDir(runDir), "best");
    if (existsSync(join(best, "checkpoint.json"))) return best;
    const all = listCheckpoints(runDir);
    if (all.length > 0) return all[all.length - 1]; // no validation yet: the latest is the best we have
    throw inputError(runDir, "has no checkpoint");
  }
  if (which === "last") {
    const all = listCheckpoints(runDir);
    if (all.length === 0) throw inputError(runDir, "has no checkpoint");
    return all[all.length - 1];
  }
  if (!existsSync(join(which, "checkpoint.json"))) throw inputError(which, "not a checkpoint directory");
  return which;
}

/** Makes RUN/checkpoints/best the given checkpoint (hard links, swapped in with renames). */
export function markBest(runDir: string, checkpointPath: string): void {
  const dir = checkpointsDir(runDir);
  const temp = join(dir, `.tmp-best-${process.pid}`);
  const old = join(dir, `.old-best-${process.pid}`);
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp);
  for (const file of ["tensors.bin", "checkpoint.json", VALIDATION_FILE]) {
    if (existsSync(join(checkpointPath, file))) linkSync(join(checkpointPath, file), join(temp, file));
  }
  const best = join(dir, "best");
  if (existsSync(best)) renameSync(best, old);
  renameSync(temp, best);
  rmSync(old, { recursive: true, force: true });
  fsyncDir(dir);
}

/** Keeps the newest `keep` step-* checkpoints (best survives through its own hard links). */
export function pruneCheckpoints(runDir: string, keep: number): void {
  const all = listCheckpoints(runDir);
  for (const path of all.slice(0, Math.max(0, all.length - keep))) rmSync(path, { recursive: true, force: true });
}

const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function toLittleEndianBytes(data: Float32Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (littleEndianHost) return bytes;
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return out;
}

function fromLittleEndianBytes(bytes: Buffer): Float32Array {
  const out = new Float32Array(bytes.byteLength / 4);
  if (littleEndianHost) new Uint8Array(out.buffer).set(bytes);
  else for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}
