import { existsSync, rmSync } from "node:fs";
import { basename, dirname } from "node:path";
import { type RingArithmetic, ringArithmetic } from "./arithmetic.js";

/**
 * Shared memory for ranks on one host. When every rank's receiver is a Unix socket (the ring bound to
 * loopback), all ranks see the same /dev/shm, so an all-reduce can skip the sockets for its payload: each
 * rank's array lives in (or is copied into) its own region; each rank sums its segment across every region
 * in place and writes the result back into that segment of every region, so each region ends holding the
 * whole result. Per rank that is one read and one write of the array's size, with no receive buffers (no
 * GC churn); a caller that fills the region directly (RingAllReduce.buffer) copies nothing at all. The
 * sockets carry only two barrier frames, with the ring's generation and sequence checks.
 *
 * Each region starts with a header the receiver checks: the array length and the collective's number, so
 * ranks that disagree on either fail instead of reducing garbage.
 */
const HEADER_WORDS = 16; // 64 bytes keep the payload cache-line aligned
const SHM_DIR = "/dev/shm";

export class SharedRegions {
  constructor(
    /** floats each region holds; collectives of any length up to it use the regions' prefixes */
    readonly capacity: number,
    /** per rank: [length, collective number, fp16, offset of the stretch in the region] */
    readonly headers: Uint32Array[],
    /** per rank: its copy of the array */
    readonly payloads: Float32Array[],
  ) {}
}

type SharedAddon = Required<Pick<RingArithmetic, "shmMap" | "f32SumToAll">> & RingArithmetic;

/** The installed kernels when they can map shared memory and this host has /dev/shm, else undefined. */
export function sharedMemoryAddon(): SharedAddon | undefined {
  const addon = ringArithmetic();
  if (!addon?.shmMap || !addon.f32SumToAll || process.platform !== "linux" || !existsSync(SHM_DIR)) return undefined;
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

/**
 * Every region's [lo, hi) becomes (Σ_k regions[k][lo, hi)) / divisor, summed in rank order by this rank alone
 * (the owner of the segment), so all ranks end bitwise equal. With `toHalf` the result is rounded to fp16
 * (nearest even). Only the owner touches a segment between the two barriers of a collective.
 */
export function reduceOwnSegment(
  addon: SharedAddon,
  regions: SharedRegions,
  lo: number,
  hi: number,
  divisor: number,
  toHalf: boolean,
): void {
  addon.f32SumToAll(
    regions.payloads.map((p) => p.subarray(lo, hi)),
    divisor,
    toHalf,
  );
}
