import { ringPlan } from "./ringPlan.js";
import {
  allOnThisHost,
  mapSharedRegions,
  reduceOwnSegment,
  type SharedRegions,
  sharedMemoryAddon,
} from "./sharedRegions.js";
import { RingError } from "./streamRing.js";
import type { AllReduceTransport, RingStream } from "./transport.js";

/** Below this an all-reduce is latency-bound: two barriers would cost more than streaming the data. */
const SHARED_MIN_ELEMENTS = 1 << 16;

/** Endpoint strings are capped at this many bytes by the control messages' schema too. */
const ENDPOINT_MAX_BYTES = 512;

/**
 * The all-reduce for ranks that share this host: payloads move through /dev/shm regions (sharedRegions.ts)
 * and the stream ring carries only two one-float barriers. Whether all ranks are on this host is found out
 * once, on the first large all-reduce, by a small collective every rank joins, so every rank decides alike.
 */
export class SharedMemoryAllReduce implements AllReduceTransport {
  readonly name = "shared memory";
  /** Every rank's endpoint when all share this host, null when they do not, undefined until asked. */
  private endpoints?: readonly string[] | null;
  private regions?: SharedRegions;
  /** The longest array asked of ownRegion: regions are mapped at least this long, so that it can be served. */
  private wanted = 0;
  private ops = 0;

  constructor(private readonly stream: RingStream) {}

  /** Whether large fp32 all-reduces go through shared memory; undefined before the first one. */
  get inUse(): boolean | undefined {
    return this.endpoints === undefined ? undefined : this.endpoints !== null;
  }

  async enabled(length: number): Promise<boolean> {
    if (length < SHARED_MIN_ELEMENTS) return false;
    if (this.endpoints === undefined) this.endpoints = await this.findSharedHost();
    return this.endpoints !== null;
  }

  /**
   * This rank's region when it holds `length` floats: filling it spares the copy in and out. Until it does
   * (before the first large all-reduce, or while the regions are shorter), undefined; regions mapped from
   * then on are made long enough for it.
   */
  ownRegion(length: number): Float32Array | undefined {
    const own = this.regions?.payloads[this.stream.rank];
    if (own && own.length >= length) return own.subarray(0, length);
    this.wanted = Math.max(this.wanted, length);
    return undefined;
  }

  /**
   * Copy in (unless `data` lies in this rank's region), barrier, sum this rank's segment across every region
   * and write it back into all of them, barrier, copy out. `data` may be any stretch of the region (buckets
   * of gradients that fill it piece by piece): the collective then works on that stretch of every region,
   * which must be the same stretch on every rank (the header says where; the first barrier checks).
   *
   * No closing barrier is needed: after the second barrier no rank touches another's region's stretch until
   * every rank has entered the next collective's first barrier, and a rank refills its own region only after
   * its own second barrier, when every write into it has happened. While one stretch is being reduced,
   * ranks may write other stretches of their own region (backward producing the next bucket).
   */
  async allReduce(data: Float32Array, average: boolean, fp16: boolean): Promise<void> {
    const addon = sharedMemoryAddon();
    const endpoints = this.endpoints;
    if (!addon || !endpoints) throw new RingError("ring: shared memory is not available");
    const { rank: r, worldSize: n } = this.stream;
    const barrier = () => this.stream.allReduce(new Float32Array(1), false, false);
    try {
      if (!this.regions || this.regions.capacity < data.length) {
        this.regions = undefined; // the old mappings go with the GC
        this.regions = await mapSharedRegions(addon, endpoints, r, Math.max(data.length, this.wanted), barrier);
      }
      const { headers, payloads } = this.regions;
      const own = payloads[r];
      const at = offsetInRegion(data, own);
      const stretch = own.subarray(at ?? 0, (at ?? 0) + data.length);
      if (at === undefined) stretch.set(data);
      const op = ++this.ops >>> 0;
      headers[r][0] = data.length;
      headers[r][1] = op;
      headers[r][2] = fp16 ? 1 : 0;
      headers[r][3] = at ?? 0;
      await barrier();
      headers.forEach((h, k) => {
        if (h[0] !== data.length || h[1] !== op)
          throw new RingError(
            `ring: rank ${k} shared ${h[0]} floats for collective #${h[1]}, this rank ${data.length} for #${op}`,
          );
        if (h[2] !== headers[r][2]) throw new RingError(`ring: rank ${k} disagrees on fp16 (do all ranks agree?)`);
        if (h[3] !== headers[r][3])
          throw new RingError(`ring: rank ${k} shared floats from offset ${h[3]}, this rank from ${headers[r][3]}`);
      });
      const plan = ringPlan(data.length, n, Math.max(1, data.length));
      const [lo, hi] = [plan.segmentStart[r], plan.segmentStart[r + 1]].map((i) => (at ?? 0) + i);
      reduceOwnSegment(addon, this.regions, lo, hi, average ? n : 1, fp16);
      await barrier();
      if (at === undefined) data.set(stretch);
      // Counted as the ring would have moved it, so the allreduce_bytes metric means the same either way.
      const ringBytes = Math.round(((2 * (n - 1)) / n) * data.byteLength);
      this.stream.stats.bytesSent += ringBytes;
      this.stream.stats.bytesReceived += ringBytes;
    } catch (error) {
      throw this.stream.fail(error);
    }
  }

  close(): void {
    this.regions = undefined;
  }

  /**
   * Every rank's endpoint if all ranks can share memory on this host, else null: each rank writes a flag and
   * its endpoint's bytes into its own slot of a table the ring sums (slots of other ranks are zeros, so the
   * sum is exact), hence every rank reaches the same decision.
   */
  private async findSharedHost(): Promise<string[] | null> {
    const { rank, worldSize } = this.stream;
    const slot = 1 + ENDPOINT_MAX_BYTES;
    const table = new Float32Array(worldSize * slot);
    const bytes = Buffer.from(this.stream.endpoint, "utf8");
    if (sharedMemoryAddon() && allOnThisHost([this.stream.endpoint]) && bytes.length <= ENDPOINT_MAX_BYTES) {
      table[rank * slot] = 1;
      table.set(bytes, rank * slot + 1);
    }
    await this.stream.allReduce(table, false, false);
    const endpoints: string[] = [];
    for (let k = 0; k < worldSize; k++) {
      if (table[k * slot] !== 1) return null;
      const chars = table.subarray(k * slot + 1, (k + 1) * slot);
      const end = chars.indexOf(0);
      endpoints.push(Buffer.from(chars.subarray(0, end < 0 ? chars.length : end)).toString("utf8"));
    }
    return allOnThisHost(endpoints) ? endpoints : null;
  }
}

/** Where `data` starts in `region` when it lies entirely inside it (a view of the same memory), else undefined. */
function offsetInRegion(data: Float32Array, region: Float32Array): number | undefined {
  if (data.buffer !== region.buffer) return undefined;
  const at = (data.byteOffset - region.byteOffset) / 4;
  return Number.isInteger(at) && at >= 0 && at + data.length <= region.length ? at : undefined;
}
