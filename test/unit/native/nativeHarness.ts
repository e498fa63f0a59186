import * as tf from "@tensorflow/tfjs";
import { beforeAll, expect } from "vitest";
import { loadNative, type NativeAddon } from "../../../src/native/addon.js";
import { registerNativeKernels, unregisterNativeKernels } from "../../../src/native/register.js";
import { Rng } from "../../../src/random.js";

// Shared by the native kernel tests: the cpu backend, the conv/pool case types, random inputs, a switch between the plain tfjs kernels
// and the native ones, and a count of addon calls so a silent fallback to the plain kernel fails the test.

const addon = loadNative();
if (!addon) throw new Error("native addon not built (node native/build.mjs): the native kernel tests need it");

/** Runs the file's tests on tfjs's cpu backend, the one whose kernels the native ones replace. */
export function onCpuBackend(): void {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });
}

/** A window's extent or strides along D, H, W. */
export type Triple = [number, number, number];
/** A convolution case: [batch, inChannels, outChannels, filter, strides, pad]. */
export type ConvCase = [number, number, number, Triple, Triple, "same" | "valid"];
/** A pooling case: [batch, channels, window, strides, pad]. */
export type PoolCase = [number, number, Triple, Triple, "same" | "valid" | number];

export const addonCalls = new Map<string, number>();
const countingAddon = new Proxy(addon, {
  get(target, prop: string) {
    const value = (target as unknown as Record<string, unknown>)[prop];
    if (typeof value !== "function") return value;
    return (...args: unknown[]) => {
      addonCalls.set(prop, (addonCalls.get(prop) ?? 0) + 1);
      return value.apply(target, args);
    };
  },
}) as NativeAddon;

export function randomTensor(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.normal();
  return tf.tensor(values, shape, "float32");
}

/**
 * Runs `compute` with the plain tfjs kernels, then with the native ones, and expects every output equal to
 * rel. error < 1e-4 (max abs difference over max abs value) and the addon function `nativeName` called.
 */
export function expectNativeMatchesPlain(nativeName: keyof NativeAddon, compute: () => tf.Tensor[]): void {
  unregisterNativeKernels();
  const plain = tf.tidy(compute).map((t) => {
    const values = t.dataSync().slice();
    t.dispose();
    return values;
  });
  registerNativeKernels(countingAddon);
  addonCalls.clear();
  const native = tf.tidy(compute).map((t) => {
    const values = t.dataSync().slice();
    t.dispose();
    return values;
  });
  expect(addonCalls.get(nativeName) ?? 0).toBeGreaterThan(0);
  expect(native.length).toBe(plain.length);
  for (let i = 0; i < plain.length; i++) expectClose(native[i], plain[i]);
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
  }
  expect(scale).toBeGreaterThan(0);
  expect(diff / scale).toBeLessThan(tolerance);
}

/** Native kernels registered, addon call counts cleared: for tests of the native path alone. */
export function useNative(): void {
  registerNativeKernels(countingAddon);
  addonCalls.clear();
}
