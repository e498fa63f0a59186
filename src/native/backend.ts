import { availableParallelism } from "node:os";
import * as tf from "@tensorflow/tfjs";
import { InputError, inputError } from "../errors.js";
import { loadNative } from "./addon.js";
import { retainFreedMemory } from "./commAddon.js";
import { registerNativeKernels } from "./register.js";

/**
 * Picks the tensor engine for this process, once, before any model variable exists:
 *   gpu   @tensorflow/tfjs-node-gpu (libtensorflow + CUDA), pinned to one device via CUDA_VISIBLE_DEVICES;
 *   cpu   the plain tfjs cpu backend with voxring's oneDNN kernels registered over it (plain without them);
 *   auto  gpu when tfjs-node-gpu loads, else cpu.
 *
 *   await initBackend({ backend: "cpu", threads: 2 });
 *   await initBackend({ backend: "gpu", gpuIndex: 1 });
 */

export type BackendChoice = "auto" | "gpu" | "cpu";

export interface BackendOptions {
  backend: BackendChoice;
  /** OpenMP threads for the native kernels; default: every core. */
  threads?: number;
  /** Which GPU this worker owns (its local rank). */
  gpuIndex?: number;
}

export interface BackendInfo {
  name: "tensorflow" | "cpu";
  /** voxring's oneDNN kernels are registered (cpu backend only). */
  native: boolean;
  threads: number;
  /** Names of the kernels now running natively (empty on gpu or without the addon). */
  nativeKernels: string[];
}

const GPU_PACKAGE = "@tensorflow/tfjs-node-gpu";
const GPU_MISSING = `--backend gpu: ${GPU_PACKAGE} is not installed (npm install ${GPU_PACKAGE}; needs CUDA 11.2 / cuDNN 8.1)`;

function positiveInteger(value: number | undefined, option: string): void {
  if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
    throw inputError(option, `must be a positive integer, got ${value}`);
  }
}

/** Imports tfjs-node-gpu, which registers the 'tensorflow' backend as a side effect. */
async function loadGpuBackend(): Promise<{ loaded: true } | { loaded: false; reason: string }> {
  try {
    // A variable specifier: the package is optional and absent here, so the compiler must not resolve it.
    const specifier: string = GPU_PACKAGE;
    await import(specifier);
    return { loaded: true };
  } catch (error) {
    return { loaded: false, reason: (error as Error).message };
  }
}

async function useGpu(options: BackendOptions): Promise<BackendInfo | null> {
  const index = options.gpuIndex;
  if (index !== undefined && !(Number.isInteger(index) && index >= 0)) {
    throw inputError("gpu index", `must be a non-negative integer, got ${index}`);
  }
  // Must precede the import: CUDA reads it once, when libtensorflow initialises.
  if (index !== undefined) process.env.CUDA_VISIBLE_DEVICES = String(index);
  const result = await loadGpuBackend();
  if (!result.loaded) {
    if (options.backend === "gpu") {
      const missing = /Cannot find (package|module)/.test(result.reason);
      throw new InputError(missing ? GPU_MISSING : `--backend gpu: ${GPU_PACKAGE} failed to load (${result.reason})`);
    }
    return null;
  }
  await tf.setBackend("tensorflow");
  await tf.ready();
  return { name: "tensorflow", native: false, threads: options.threads ?? availableParallelism(), nativeKernels: [] };
}

async function useCpu(options: BackendOptions): Promise<BackendInfo> {
  await tf.setBackend("cpu");
  await tf.ready();
  const requested = options.threads ?? availableParallelism();
  const addon = loadNative(); // warns once and returns null without the addon
  if (!addon) return { name: "cpu", native: false, threads: 1, nativeKernels: [] };
  const threads = addon.setNumThreads(requested);
  retainFreedMemory(); // the kernels' outputs are fresh activation-sized arrays at every step
  const nativeKernels = registerNativeKernels(addon);
  return { name: "cpu", native: nativeKernels.length > 0, threads, nativeKernels };
}

export async function initBackend(options: BackendOptions): Promise<BackendInfo> {
  positiveInteger(options.threads, "--threads");
  // tfjs prints a banner recommending tfjs-node on the first tensor it makes in Node; prod mode is tfjs's
  // documented switch for its console warnings (it changes no numerics).
  tf.enableProdMode();
  if (options.backend !== "cpu") {
    const gpu = await useGpu(options);
    if (gpu) return gpu;
  }
  return useCpu(options);
}
