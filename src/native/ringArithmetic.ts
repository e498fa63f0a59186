import { installRingArithmetic } from "../comm/arithmetic.js";
import { loadNative } from "./addon.js";

/**
 * Gives src/comm the addon's SIMD, F16C and shared-memory kernels (unless VOXRING_COMM_NATIVE=0). Loading it
 * also makes malloc keep freed memory (MallocPolicy.cc), so ZeroMQ's megabyte receive buffers stop paying a
 * page fault per page. Returns whether native kernels are now in use.
 */
export function installNativeRingArithmetic(): boolean {
  const addon = process.env.VOXRING_COMM_NATIVE === "0" ? null : loadNative();
  installRingArithmetic(addon);
  return addon !== null;
}
