import { installRingArithmetic } from "../comm/arithmetic.js";
import { loadCommAddon } from "./commAddon.js";

/**
 * Gives src/comm the comm addon's SIMD, F16C and shared-memory kernels and its native data plane for the
 * streamed ring. VOXRING_COMM_NATIVE=0: none of it, plain JavaScript throughout. VOXRING_COMM_DATA_PLANE=js:
 * the kernels, but the streamed ring's socket I/O in JavaScript (the zeromq package), for comparison. Returns
 * whether native kernels are now in use.
 */
export function installNativeRingArithmetic(): boolean {
  const addon = process.env.VOXRING_COMM_NATIVE === "0" ? null : loadCommAddon();
  if (addon && process.env.VOXRING_COMM_DATA_PLANE === "js") {
    const { DataPlane: _withheld, ...kernels } = addon;
    installRingArithmetic(kernels);
  } else {
    installRingArithmetic(addon);
  }
  return addon !== null;
}
