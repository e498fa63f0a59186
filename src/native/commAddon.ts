import { createRequire } from "node:module";
import type { RingArithmetic } from "../comm/arithmetic.js";
import { addonPath } from "./addon.js";

/**
 * The comm addon (native/src/comm → voxring_comm.node): the ring's SIMD and F16C arithmetic, shared memory,
 * and, when it was built against libzmq, the streamed ring's data plane (DataPlane.cc). It links no oneDNN
 * and no OpenMP and leaves malloc alone until asked (retainFreedMemory), so every image, the GPU one
 * included, can load it without changing how the process runs.
 */
export interface CommAddon extends RingArithmetic {
  /** true when the f16 functions run on F16C instructions rather than scalar code */
  hasF16c: boolean;
  /** whether the data plane's libzmq speaks CURVE (present only with the data plane) */
  dataPlaneCurve?: boolean;
  /** Tells malloc to keep freed memory for reuse (native/src/comm/MallocPolicy.cc); true when it took. */
  retainFreedMemory(): boolean;
}

let cached: CommAddon | null | undefined;

/** Loads the comm addon once; null (after one warning) when it was not built or cannot load. */
export function loadCommAddon(): CommAddon | null {
  if (cached !== undefined) return cached;
  cached = null;
  const path = addonPath("voxring_comm.node");
  if (!path) {
    process.emitWarning("voxring: comm addon not built (npm rebuild); the ring's arithmetic runs in plain JavaScript");
    return cached;
  }
  try {
    cached = createRequire(import.meta.url)(path) as CommAddon;
  } catch (error) {
    process.emitWarning(`voxring: comm addon ${path} failed to load (${(error as Error).message}); plain JavaScript`);
  }
  return cached;
}

/**
 * Keeps freed heap memory in the process for reuse rather than returning it to the kernel, for processes
 * that allocate and free large blocks at a steady rate: tfjs tensors under the CPU kernels, and the data
 * plane's 1 MiB frames, which libzmq mallocs on receive. Without it each reused page is a fresh page fault.
 * VOXRING_MALLOC_MMAP=1 keeps glibc's default. Returns whether the policy is in force.
 */
export function retainFreedMemory(): boolean {
  return loadCommAddon()?.retainFreedMemory() ?? false;
}
