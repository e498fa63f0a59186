import type { Rng } from "../../../src/random.js";

/** Random non-zero float32 values (normal, shifted away from zero so no test runs on zeros). */
export function randomArray(rng: Rng, size: number, scale = 1, offset = 0): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = offset + scale * rng.normal();
  return out;
}

/**
 * Central difference of a scalar function of several float32 arrays with respect to one element:
 * (f(v + h) − f(v − h)) / 2h. `f` rebuilds its tensors from the arrays on every call.
 */
export function centralDifference(
  f: (inputs: Float32Array[]) => number,
  inputs: Float32Array[],
  which: number,
  index: number,
  h: number,
): number {
  const target = inputs[which];
  const saved = target[index];
  target[index] = saved + h;
  const up = f(inputs);
  target[index] = saved - h;
  const down = f(inputs);
  target[index] = saved;
  return (up - down) / (2 * h);
}

/** |a − b| relative to the larger magnitude, with a floor so that tiny gradients compare absolutely. */
export function relativeError(a: number, b: number, floor = 1e-3): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), floor);
}
