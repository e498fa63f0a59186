import { existsSync, rmSync } from "node:fs";
import { basename, dirname } from "node:path";
import type { NativeAddon } from "../worker/native/addon.js";
import { ringAddon } from "./reduce.js";

/**
 * Shared memory for ranks on one host. When every rank's receiver is a Unix socket (the ring bound to
 * loopback), all ranks see the same /dev/shm, so an all-reduce can skip the sockets for its payload: each
 * rank copies its array into its own region, reduces its segment reading every region in place, and copies
 * the other segments from their owners' regions. A byte then crosses memory three times instead of twice
 * through the kernel per ring hop, and no receive buffer is allocated (no GC churn). The sockets still carry
 * the small barrier frames between phases, with the ring's generation and sequence checks.
 *
 * Each region starts with a header the receiver checks: the array length and the collective's number, so
 * ranks that disagree on either fail instead of reducing garbage.
 */
const HEADER_WORDS = 16; // 64 bytes keep the payload cache-line aligned
const SHM_DIR = "/dev/shm";

export class SharedRegions {
  constructor(
    readonly length: number,
    /** per rank: [length, collective number] */
    readonly headers: Uint32Array[],
    /** per rank: its copy of the array */
    readonly payloads: Float32Array[],
  ) {}
}

type SharedAddon = Required<Pick<NativeAddon, "shmMap" | "f32Finish" | "f16Encode" | "f16Decode">> & NativeAddon;

/** The addon when it can map shared memory and this host has /dev/shm, else undefined. */
export function sharedMemoryAddon(): SharedAddon | undefined {
  const addon = ringAddon();
  if (
    !addon?.shmMap ||
    !addon.f32Finish ||
    !addon.f16Encode ||
    !addon.f16Decode ||
    process.platform !== "linux" ||
    !existsSync(SHM_DIR)
  )
    return undefined;
  return addon as SharedAddon;
}

/** True when every endpoint is a Unix socket in a private directory, i.e. all ranks share this host. */
export function allOnThisHost(endpoints: readonly string[]): boolean {
  return endpoints.every((e) => e.startsWith("ipc://") && ipcDirName(e) !== undefined);
}

function ipcDirName(endpoint: string): string | undefined {
  const name = basename(dirname(endpoint.slice("ipc://".length)));
  return /^voxring-ring-[A-Za-z0-9]+$/.test(name) ? name : undefined;
}

function regionPath(endpoint: string, bytes: number): string {
  return `${SHM_DIR}/${ipcDirName(endpoint)}-${bytes}`;
}

/**
 * Creates this rank's region, waits for every rank to have created its own, maps them all, waits again, and
 * unlinks its file: the mappings stay, and nothing is left in /dev/shm even if a process dies later.
 */
export async function mapSharedRegions(
  addon: SharedAddon,
  endpoints: readonly string[],
  rank: number,
  length: number,
  barrier: () => Promise<void>,
): Promise<SharedRegions> {
  const bytes = (HEADER_WORDS + length) * 4;
  const own = regionPath(endpoints[rank], bytes);
  const buffers: ArrayBuffer[] = [];
  buffers[rank] = addon.shmMap(own, bytes, true);
  try {
    await barrier();
    endpoints.forEach((e, k) => {
      if (k !== rank) buffers[k] = addon.shmMap(regionPath(e, bytes), bytes, false);
    });
    await barrier();
  } finally {
    rmSync(own, { force: true });
  }
  return new SharedRegions(
    length,
    buffers.map((b) => new Uint32Array(b, 0, HEADER_WORDS)),
    buffers.map((b) => new Float32Array(b, HEADER_WORDS * 4, length)),
  );
}

// Slices under the addon's OpenMP threshold keep the reduction on this thread (see reduce.ts).
const SLICE = 16384;

/**
 * dst = (dst + Σ_{k≠rank} payloads[k]) / divisor over [lo, hi), also written into payloads[rank][lo, hi)
 * (which serves as scratch for the others' partial sum first) for the other ranks to copy. The others are
 * summed in rank order, by this rank alone: every rank copies the owner's result, so all end bitwise equal.
 * With `toHalf` the result is rounded to fp16 (nearest even).
 */
export function reduceOwnSegment(
  addon: SharedAddon,
  regions: SharedRegions,
  rank: number,
  lo: number,
  hi: number,
  dst: Float32Array,
  divisor: number,
  toHalf: boolean,
): void {
  const others = regions.payloads.filter((_, k) => k !== rank);
  const own = regions.payloads[rank];
  const halves = toHalf ? new Uint16Array(SLICE) : undefined;
  for (let a = lo; a < hi; a += SLICE) {
    const b = Math.min(hi, a + SLICE);
    const out = dst.subarray(a, b);
    const partial = own.subarray(a, b);
    partial.set(others[0].subarray(a, b));
    for (let k = 1; k < others.length; k++) addon.add(partial, others[k].subarray(a, b), partial);
    addon.f32Finish(partial, out, divisor);
    if (halves) {
      const h = halves.subarray(0, b - a);
      addon.f16Encode(h, out);
      addon.f16Decode(h, out);
      partial.set(out);
    }
  }
}
