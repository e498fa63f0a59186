import * as tf from "@tensorflow/tfjs";
import { type NamedVariable, type UNetConfig, unetShapes, type VariableShape } from "./unet.js";

/**
 * One Float32Array for all parameters (or gradients) of a model, in the order of its NamedVariable list:
 * what the ring all-reduce averages, Adam updates and a checkpoint stores.
 */

export interface FlatSlot {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

/** Where each parameter and each batch-norm statistic of a U-Net lives in its flat array. */
export interface ParamLayout {
  params: FlatSlot[];
  stats: FlatSlot[];
  paramsLength: number;
  statsLength: number;
}

/** A named tensor's values outside tfjs (checkpoints, bundles). */
export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** The layout of a U-Net of this config, computed without building it (no tensors are made). */
export function paramLayout(config: UNetConfig): ParamLayout {
  const { params, stats } = unetShapes(config);
  const slots = (shapes: VariableShape[]) => {
    let offset = 0;
    return shapes.map(({ name, shape }) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const slot = { name, shape, offset, size };
      offset += size;
      return slot;
    });
  };
  const p = slots(params);
  const st = slots(stats);
  const end = (list: FlatSlot[]) => (list.length ? list[list.length - 1].offset + list[list.length - 1].size : 0);
  return { params: p, stats: st, paramsLength: end(p), statsLength: end(st) };
}

/** The named tensors of a flat array laid out by `slots` (copies, so the flat array may be reused). */
export function splitFlat(slots: FlatSlot[], flat: Float32Array): NamedArray[] {
  const expected = slots.length ? slots[slots.length - 1].offset + slots[slots.length - 1].size : 0;
  if (flat.length !== expected)
    throw new Error(`splitFlat: flat array has ${flat.length} values, the layout ${expected}`);
  return slots.map(({ name, shape, offset, size }) => ({
    name,
    shape: [...shape],
    data: flat.slice(offset, offset + size),
  }));
}

/** The named tensors back to back in one flat array (the inverse of splitFlat). */
export function joinFlat(arrays: readonly { data: Float32Array }[]): Float32Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.data.length, 0));
  let offset = 0;
  for (const a of arrays) {
    out.set(a.data, offset);
    offset += a.data.length;
  }
  return out;
}

export function flatSize(vars: NamedVariable[]): number {
  return vars.reduce((total, v) => total + v.variable.size, 0);
}

function checkLength(vars: NamedVariable[], flat: Float32Array, what: string): void {
  const expected = flatSize(vars);
  if (flat.length !== expected)
    throw new Error(`${what}: flat array has ${flat.length} values, the variables ${expected}`);
}

/** Copies every variable's values into `out` (allocated when not given). */
export function readFlat(vars: NamedVariable[], out = new Float32Array(flatSize(vars))): Float32Array {
  checkLength(vars, out, "readFlat");
  let offset = 0;
  for (const { variable } of vars) {
    out.set(variable.dataSync() as Float32Array, offset);
    offset += variable.size;
  }
  return out;
}

/** Assigns every variable from its slice of `flat` (copied: the variables never alias the caller's buffer). */
export function writeFlat(vars: NamedVariable[], flat: Float32Array): void {
  assignSlices(vars, flat, "writeFlat", (lo, hi) => flat.slice(lo, hi));
}

/**
 * Makes the variables views of `flat` where the backend keeps tensors in host memory (cpu): each variable's
 * storage becomes its slice of `flat`, so whoever owns `flat` updates the variables by writing it, with no
 * fresh array per update. Elsewhere (a GPU) it is writeFlat.
 * tfjs takes tensors to be immutable; this holds only because the owner writes `flat` between steps, when
 * no tensor made from the variables is alive (trainer.ts), and checks `areViewsOf` before each write.
 */
export function viewFlat(vars: NamedVariable[], flat: Float32Array): void {
  // Off the cpu backend the upload is a copy anyway: writeFlat, as the GPU path always did.
  if (tf.getBackend() === "cpu") assignSlices(vars, flat, "viewFlat", (lo, hi) => flat.subarray(lo, hi));
  else writeFlat(vars, flat);
}

function assignSlices(
  vars: NamedVariable[],
  flat: Float32Array,
  what: string,
  slice: (lo: number, hi: number) => Float32Array,
): void {
  checkLength(vars, flat, what);
  let offset = 0;
  for (const { variable } of vars) {
    const values = slice(offset, offset + variable.size);
    tf.tidy(() => {
      variable.assign(tf.tensor(values, variable.shape, "float32"));
    });
    offset += variable.size;
  }
}

/**
 * Whether every variable's storage is still its slice of `flat` (viewFlat on a host-memory backend, and no
 * assign since: a checkpoint restore or weight broadcast writes the variables with copies).
 */
export function areViewsOf(vars: NamedVariable[], flat: Float32Array): boolean {
  // Only the cpu backend hands out its storage; another's dataSync would download every variable to say no.
  if (tf.getBackend() !== "cpu" || flatSize(vars) !== flat.length) return false;
  let offset = 0;
  for (const { variable } of vars) {
    const data = variable.dataSync() as Float32Array;
    if (data.buffer !== flat.buffer || data.byteOffset !== flat.byteOffset + offset * 4) return false;
    offset += variable.size;
  }
  return true;
}

/** DDP's first bucket (torch.distributed's _DEFAULT_FIRST_BUCKET_BYTES): small, so the first all-reduce starts early. */
export const FIRST_BUCKET_BYTES = 1 << 20;

/** A run of parameters whose gradients are all-reduced together: flat elements [lo, hi). */
export interface GradientBucket {
  lo: number;
  hi: number;
  /** Indices into the parameter list, highest first. */
  params: number[];
}

/**
 * How gradients of parameters of these sizes (in flat-layout order) are cut into buckets, as DDP assigns
 * them: walking the parameters from the last to the first (backward produces the last layers' gradients
 * first), a bucket closes once it holds at least `capBytes` of fp32 gradients, the first one already at
 * min(FIRST_BUCKET_BYTES, capBytes). A parameter larger than the cap gets a bucket of its own; a cap of 0
 * means one bucket for everything. The buckets come in the order they are to be all-reduced; each is a
 * contiguous range of the flat layout, the first ending at its end.
 */
export function gradientBuckets(sizes: readonly number[], capBytes: number): GradientBucket[] {
  if (!(capBytes >= 0)) throw new RangeError(`gradientBuckets: bad cap ${capBytes} bytes`);
  const cap = capBytes === 0 ? Number.POSITIVE_INFINITY : capBytes;
  const firstCap = capBytes === 0 ? cap : Math.min(FIRST_BUCKET_BYTES, cap);
  const buckets: GradientBucket[] = [];
  let hi = sizes.reduce((a, b) => a + b, 0);
  let current: GradientBucket = { lo: hi, hi, params: [] };
  for (let i = sizes.length - 1; i >= 0; i--) {
    current.lo -= sizes[i];
    current.params.push(i);
    const limit = buckets.length === 0 ? firstCap : cap;
    if ((current.hi - current.lo) * 4 >= limit || i === 0) {
      buckets.push(current);
      hi = current.lo;
      current = { lo: hi, hi, params: [] };
    }
  }
  return buckets;
}
