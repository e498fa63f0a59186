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
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fsyncDir, writeFileAtomic, writeFileDurable } from "../atomicWrite.js";
import { inputError } from "../errors.js";
import type { NamedArray } from "../model/paramLayout.js";
import type { TrainConfig } from "./config.js";
import type { LossScaleState } from "./lossScale.js";

export const CHECKPOINT_FORMAT = "voxring-checkpoint/1";
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

interface TensorEntry {
  group: "params" | "stats" | "adam_m" | "adam_v";
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

type Header = Omit<Checkpoint, "params" | "stats" | "optimizer"> & {
  format: typeof CHECKPOINT_FORMAT;
  optimizerStep: number;
  tensors: TensorEntry[];
};

export function checkpointsDir(runDir: string): string {
  return join(runDir, "checkpoints");
}

export function checkpointName(globalStep: number): string {
  return `step-${String(globalStep).padStart(8, "0")}`;
}

/** Writes a checkpoint atomically into RUN/checkpoints/step-N and returns its path. */
export function writeCheckpoint(runDir: string, ckpt: Checkpoint): string {
  const dir = checkpointsDir(runDir);
  mkdirSync(dir, { recursive: true });
  const final = join(dir, checkpointName(ckpt.globalStep));
  const temp = join(dir, `.tmp-${checkpointName(ckpt.globalStep)}-${process.pid}`);
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp);

  const tensors: TensorEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const add = (group: TensorEntry["group"], name: string, shape: number[], data: Float32Array) => {
    tensors.push({ group, name, shape, offset, length: data.length });
    chunks.push(toLittleEndianBytes(data));
    offset += data.length;
  };
  for (const p of ckpt.params) add("params", p.name, p.shape, p.data);
  for (const s of ckpt.stats) add("stats", s.name, s.shape, s.data);
  add("adam_m", "m", [ckpt.optimizer.m.length], ckpt.optimizer.m);
  add("adam_v", "v", [ckpt.optimizer.v.length], ckpt.optimizer.v);

  const { params: _p, stats: _s, optimizer, ...rest } = ckpt;
  const header: Header = { format: CHECKPOINT_FORMAT, ...rest, optimizerStep: optimizer.step, tensors };
  writeFileDurable(join(temp, "tensors.bin"), chunks);
  writeFileDurable(join(temp, "checkpoint.json"), [Buffer.from(`${JSON.stringify(header, null, 1)}\n`)]);
  fsyncDir(temp);
  rmSync(final, { recursive: true, force: true }); // a re-run of the same step after a restart replaces it
  renameSync(temp, final);
  fsyncDir(dir);
  return final;
}

/** Reads a checkpoint directory (as written by writeCheckpoint). Throws InputError naming the path. */
export function readCheckpoint(path: string): Checkpoint {
  const headerPath = join(path, "checkpoint.json");
  const binPath = join(path, "tensors.bin");
  if (!existsSync(headerPath) || !existsSync(binPath)) {
    throw inputError(path, "not a voxring checkpoint (expected checkpoint.json and tensors.bin)");
  }
  let header: Header;
  try {
    header = JSON.parse(readFileSync(headerPath, "utf8")) as Header;
  } catch (error) {
    throw inputError(headerPath, `unreadable (${(error as Error).message})`);
  }
  if (header.format !== CHECKPOINT_FORMAT) throw inputError(headerPath, `unknown format ${String(header.format)}`);
  const bytes = readFileSync(binPath);
  const total = header.tensors.reduce((n, t) => Math.max(n, t.offset + t.length), 0);
  if (bytes.byteLength !== total * 4) {
    throw inputError(binPath, `holds ${bytes.byteLength} bytes, the header describes ${total * 4}`);
  }
  const all = fromLittleEndianBytes(bytes);
  const pick = (group: TensorEntry["group"]) =>
    header.tensors
      .filter((t) => t.group === group)
      .map((t) => ({ name: t.name, shape: t.shape, data: all.slice(t.offset, t.offset + t.length) }));
  const { format: _f, tensors: _t, optimizerStep, ...rest } = header;
  const validationPath = join(path, VALIDATION_FILE);
  if (existsSync(validationPath)) rest.validation = JSON.parse(readFileSync(validationPath, "utf8"));
  return {
    ...rest,
    params: pick("params"),
    stats: pick("stats"),
    optimizer: { step: optimizerStep, m: pick("adam_m")[0].data, v: pick("adam_v")[0].data },
  };
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
