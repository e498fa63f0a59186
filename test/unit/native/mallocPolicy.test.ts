import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// The policy is process-wide and one-way, so each case runs in a process of its own, on the built module.
const commAddon = fileURLToPath(new URL("../../../dist/src/native/commAddon.js", import.meta.url));

/**
 * Page faults per 1 MiB block allocated, written and freed 200 times: the size of a data-plane frame. With
 * glibc's defaults freed blocks go back to the kernel and come back as fresh pages; kept, they are reused.
 */
function faultsPerBlock(call: boolean, env: NodeJS.ProcessEnv = {}): { retained: boolean | null; faults: number } {
  const script = `
    const { retainFreedMemory } = await import(${JSON.stringify(commAddon)});
    const retained = ${call} ? retainFreedMemory() : null;
    const before = process.resourceUsage().minorPageFault;
    for (let i = 0; i < 200; i++) {
      let block = new Uint8Array(1 << 20);
      block.fill(i + 1);
      block = null;
      globalThis.gc();
    }
    console.log(JSON.stringify({ retained, faults: (process.resourceUsage().minorPageFault - before) / 200 }));`;
  const child = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
  expect(child.status, child.stderr).toBe(0);
  return JSON.parse(child.stdout);
}

describe("retainFreedMemory", () => {
  it("is not a side effect of loading the comm addon, and once asked for, freed blocks come back without page faults", () => {
    const loaded = faultsPerBlock(false);
    const retained = faultsPerBlock(true);
    expect(retained.retained).toBe(true);
    // A 1 MiB block is 256 pages; kept blocks fault only where the garbage collector's own pages do.
    expect(loaded.faults).toBeGreaterThan(3 * retained.faults);
  });

  it("keeps glibc's default under VOXRING_MALLOC_MMAP=1", () => {
    expect(faultsPerBlock(true, { VOXRING_MALLOC_MMAP: "1" }).retained).toBe(false);
  });
});
