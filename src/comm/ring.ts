import { NativeStreamRing } from "./nativeStreamRing.js";
import { SharedMemoryAllReduce } from "./sharedMemoryAllReduce.js";
import { RingError, RingStallError, StreamRing, type StreamRingOptions } from "./streamRing.js";
import type { AllReduceTransport, RingStream } from "./transport.js";

/**
 * The collectives of one rank, framework-free: Float32Arrays in, reduced in place.
 *
 *   const ring = await RingAllReduce.open({ bind: "tcp://127.0.0.1:0", keys });   // ring.endpoint → coordinator
 *   await ring.join({ rank, worldSize, next: endpoints[(rank + 1) % worldSize] });
 *   await ring.allReduce(grads, { average: true, fp16: amp });
 *   await ring.broadcast(weights, 0);
 *   ring.close();
 *
 * An all-reduce goes to the first enabled transport of an ordered list: shared memory when every rank is on
 * this host (sharedMemoryAllReduce.ts), else the chunked stream ring over ZeroMQ. The stream ring's data plane
 * is native (nativeStreamRing.ts: socket I/O and reduction on a thread of the comm addon) when the installed
 * kernels carry it, else JavaScript (streamRing.ts); both put the same frames on the wire and reduce in the
 * same order, so ranks need not agree on it and get bitwise the same results either way. Collectives
 * run one at a time in call order, so a caller that starts the next one before awaiting the last gets the
 * same numbering on every rank instead of interleaved frames. On the native data plane a collective is
 * handed to its thread at the call itself (its queue keeps call order), so one started from inside a
 * synchronous backward pass moves while backward goes on; elsewhere it starts once the caller yields.
 */
export interface RingOpenOptions extends StreamRingOptions {
  /**
   * Default true: when all ranks turn out to be on this host, large all-reduces move their payload through
   * shared memory and the sockets carry only barriers. All ranks must agree.
   */
  sharedMemory?: boolean;
  /**
   * Default true: the stream ring's native data plane when it is installed (arithmetic.ts); false keeps the
   * JavaScript one. Ranks may differ here: the frames are the same.
   */
  nativeDataPlane?: boolean;
}

export interface RingJoin {
  rank: number;
  worldSize: number;
  /** receive endpoint of rank (rank + 1) % worldSize */
  next?: string;
}

export interface AllReduceOptions {
  /** divide the sum by worldSize */
  average: boolean;
  /**
   * half floats on the wire, float32 reduction; every rank ends with the same fp16-representable values.
   * Through shared memory (no wire) the float32 sum is rounded to fp16 once, at the end.
   */
  fp16?: boolean;
}

export { RingError, RingStallError };

export class RingAllReduce {
  private readonly shared?: SharedMemoryAllReduce;
  private readonly transports: AllReduceTransport[];
  private scratch?: Float32Array;
  private pending: Promise<unknown> = Promise.resolve();
  /** collectives waiting in or running from the chain of `pending` */
  private chained = 0;

  private constructor(
    private readonly stream: RingStream,
    sharedMemory: boolean,
  ) {
    this.shared = sharedMemory ? new SharedMemoryAllReduce(stream) : undefined;
    const streamed: AllReduceTransport = {
      name: `stream (${stream.dataPlane})`,
      enabled: () => true,
      allReduce: (data, average, fp16) => stream.allReduce(data, average, fp16),
    };
    this.transports = this.shared ? [this.shared, streamed] : [streamed];
  }

  /** A ring of one: collectives return at once and no socket is opened. */
  static solo(): RingAllReduce {
    return new RingAllReduce(StreamRing.solo(), false);
  }

  /** Binds this rank's receiver; hand `endpoint` to the other ranks, then `join`. */
  static async open(options: RingOpenOptions = {}): Promise<RingAllReduce> {
    const native = options.nativeDataPlane !== false && NativeStreamRing.available();
    const stream = native ? await NativeStreamRing.open(options) : await StreamRing.open(options);
    return new RingAllReduce(stream, options.sharedMemory !== false);
  }

  /** Who moves the stream ring's frames: "native" (the comm addon's thread) or "js". */
  get dataPlane(): "js" | "native" {
    return this.stream.dataPlane;
  }

  /** the endpoint other ranks dial to reach this rank's receiver */
  get endpoint(): string {
    return this.stream.endpoint;
  }

  get rank(): number {
    return this.stream.rank;
  }

  get worldSize(): number {
    return this.stream.worldSize;
  }

  /** bytes of payload sent and received since open, for the allreduce_bytes metric */
  get stats(): { bytesSent: number; bytesReceived: number; droppedFrames: number } {
    return this.stream.stats;
  }

  /** A collective that receives nothing for this long fails with a RingStallError (every transport). */
  setProgressTimeout(ms: number): void {
    this.stream.setProgressTimeout(ms);
  }

  /** Takes a place in the ring: connects the sender to the next rank's receiver. */
  async join({ rank, worldSize, next }: RingJoin): Promise<void> {
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`ring: bad world size ${worldSize}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new RangeError(`ring: bad rank ${rank}`);
    await this.stream.join(rank, worldSize, next);
  }

  /** Whether large fp32 all-reduces go through shared memory; undefined before the first one. */
  get sharesMemory(): boolean | undefined {
    return this.shared ? this.shared.inUse : false;
  }

  /**
   * An array of `length` floats that all-reduces without being copied: once shared memory is in use (from
   * the first large all-reduce on), a view of this rank's shared region, else an array kept for reuse. Fill
   * it, all-reduce it, read the result; its contents last until this ring's next collective.
   */
  buffer(length: number): Float32Array {
    const own = this.shared?.ownRegion(length);
    if (own) return own;
    if (this.scratch?.length !== length) this.scratch = new Float32Array(length);
    return this.scratch;
  }

  /** Sums (or averages) `data` across all ranks, in place. Every rank must call it with the same length. */
  allReduce(data: Float32Array, { average, fp16 = false }: AllReduceOptions): Promise<void> {
    if (this.worldSize === 1) return Promise.resolve();
    if (this.handsOverAtCall()) return this.handOver(this.stream.allReduce(data, average, fp16));
    return this.serialized(async () => {
      for (const transport of this.transports) {
        if (await transport.enabled(data.length)) return transport.allReduce(data, average, fp16);
      }
    });
  }

  /** Copies `data` of rank `root` into `data` of every rank (same length everywhere). */
  broadcast(data: Float32Array, root: number): Promise<void> {
    if (this.worldSize === 1) return Promise.resolve();
    if (!Number.isInteger(root) || root < 0 || root >= this.worldSize) {
      return Promise.reject(new RangeError(`broadcast: bad root ${root}`));
    }
    if (this.handsOverAtCall()) return this.handOver(this.stream.broadcast(data, root));
    return this.serialized(() => this.stream.broadcast(data, root));
  }

  /** Returns once every rank has called barrier (a one-element all-reduce: 2(N−1) hops cover the ring). */
  async barrier(): Promise<void> {
    await this.allReduce(new Float32Array(1), { average: false });
  }

  close(): void {
    this.shared?.close();
    this.stream.close();
  }

  /**
   * Whether the next collective can go straight to the stream: its data plane queues collectives in call
   * order, nothing waits in the chain ahead of it (it would overtake), and shared memory, whose collectives
   * run barriers of their own on the stream, is ruled out.
   */
  private handsOverAtCall(): boolean {
    return this.stream.queuesAtCall && this.chained === 0 && (this.shared === undefined || this.shared.inUse === false);
  }

  private handOver(done: Promise<void>): Promise<void> {
    this.pending = done.catch(() => {});
    return done;
  }

  private serialized(run: () => Promise<void>): Promise<void> {
    this.chained++;
    const done = this.pending.then(run).finally(() => {
      this.chained--;
    });
    this.pending = done.catch(() => {});
    return done;
  }
}
