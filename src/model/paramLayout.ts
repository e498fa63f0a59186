import * as tf from "@tensorflow/tfjs";
import type { NamedVariable } from "./unet.js";

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

/** Where each variable lives in the flat array. */
export function flatLayout(vars: NamedVariable[]): FlatSlot[] {
  let offset = 0;
  return vars.map(({ name, variable }) => {
    const slot = { name, shape: [...variable.shape], offset, size: variable.size };
    offset += variable.size;
    return slot;
  });
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
  checkLength(vars, flat, "writeFlat");
  let offset = 0;
  for (const { variable } of vars) {
    const values = flat.slice(offset, offset + variable.size);
    tf.tidy(() => {
      variable.assign(tf.tensor(values, variable.shape, "float32"));
    });
    offset += variable.size;
  }
}

/**
 * Flattens gradients keyed by tfjs variable name (what `tf.variableGrads` returns). A variable without a
 * gradient (it did not reach the loss, like a conv bias in front of a batch norm) contributes zeros.
 */
export function flattenGrads(
  vars: NamedVariable[],
  grads: tf.NamedTensorMap,
  out: Float32Array = new Float32Array(flatSize(vars)),
): Float32Array {
  checkLength(vars, out, "flattenGrads");
  let offset = 0;
  for (const { variable } of vars) {
    const grad = grads[variable.name];
    if (grad) out.set(grad.dataSync() as Float32Array, offset);
    else out.fill(0, offset, offset + variable.size);
    offset += variable.size;
  }
  return out;
}
