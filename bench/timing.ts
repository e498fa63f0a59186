/**
 * What the kernel micro-benchmarks (bench/kernels.ts, bench/activation.ts) share: the native kernels on
 * tfjs's cpu backend, and the median of repeated timed calls (the machine is shared, so single figures are
 * noise).
 */
import * as tf from "@tensorflow/tfjs";
import { loadNative, type NativeAddon } from "../src/native/addon.js";
import { retainFreedMemory } from "../src/native/commAddon.js";
import { registerNativeKernels } from "../src/native/register.js";

/** tfjs on its cpu backend with the native kernels registered and `threads` OpenMP threads (as many as it took). */
export async function nativeCpuBackend(threads: number): Promise<{ addon: NativeAddon; threads: number }> {
  const addon = loadNative();
  if (!addon) throw new Error("native addon not built: node native/build.mjs");
  await tf.setBackend("cpu");
  retainFreedMemory(); // as a training process does (src/native/backend.ts)
  registerNativeKernels(addon);
  return { addon, threads: addon.setNumThreads(threads) };
}

/**
 * Median seconds of `reps` timed calls of `run`, after one untimed call when `warm` (primitive creation and
 * JIT happen once per shape; a training run pays them at its first step only).
 */
export function medianSeconds(run: () => void, reps: number, warm: boolean): number {
  if (warm) run();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const start = process.hrtime.bigint();
    run();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
