import { InputError } from "../../errors.js";
import { Rng } from "../../random.js";
import type { Volume } from "../volume.js";

/**
 * The transform protocol, after MONAI: array transforms act on one Volume; keyed ("d") transforms act on a
 * Sample by delegating to an array transform for each of their keys, so the logic exists once. Random
 * transforms own their generator: `setRandomState(seed)` returns the transform, `randomize()` draws the
 * parameters apart from the call, so a keyed transform draws once and applies the same flip or crop to the
 * image and its label map.
 */
export type Sample = Record<string, Volume>;

export interface Transform<I = Sample, O = I> {
  readonly name: string;
  apply(input: I): O;
}

export interface Randomizable {
  setRandomState(seed: number): this;
  randomize(...args: never[]): void;
}

export function isRandomizable(t: object): t is Randomizable {
  return typeof (t as Partial<Randomizable>).setRandomState === "function";
}

/** Base of every random transform: one generator, replaced by setRandomState. */
export abstract class RandomizableTransform {
  protected rng = new Rng(0);

  setRandomState(seed: number): this {
    this.rng = new Rng(seed);
    return this;
  }

  /** Draws true with probability p. */
  protected chance(p: number): boolean {
    return p >= 1 || (p > 0 && this.rng.next() < p);
  }
}

/** An error that names the transform (and the key, when there is one). */
export function transformError(transform: string, what: string, key?: string): InputError {
  return new InputError(`${transform}${key === undefined ? "" : `[${key}]`}: ${what}`);
}

/** The volume under `key`, or an error naming the transform and the missing key. */
export function volumeAt(sample: Sample, key: string, transform: string): Volume {
  const volume = sample[key];
  if (!volume)
    throw transformError(
      transform,
      `key "${key}" is missing (sample has ${Object.keys(sample).join(", ") || "no keys"})`,
    );
  return volume;
}

/** Applies an array transform to each key of a sample; returns a new sample (other keys pass through). */
export function mapKeys(
  sample: Sample,
  keys: readonly string[],
  transform: string,
  fn: (volume: Volume, key: string) => Volume,
): Sample {
  const out: Sample = { ...sample };
  for (const key of keys) out[key] = fn(volumeAt(sample, key, transform), key);
  return out;
}

/** Checks that options are sane; errors name the transform and the option. */
export function requireOption(transform: string, ok: boolean, what: string): void {
  if (!ok) throw transformError(transform, what);
}
