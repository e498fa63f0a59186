import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as zmq from "zeromq";
import { addEncodeHalf, decodeHalf, encodeHalf, finishHalf } from "./fp16.js";
import { bytesOf, float32View, uint16View } from "./frames.js";
import { addInto, addScaleBoth, warmReduce } from "./reduce.js";
import { decodeHeader, encodeHeader, type FrameHeader, FrameKind, HEADER_BYTES, WireType } from "./ringFrame.js";
import { chunkRange, framesToReceive, type RingPlan, receiveSegment, ringPlan } from "./ringPlan.js";
import { isLoopbackEndpoint, type RunKeys, requireKeysFor, secureClient, secureServer } from "./security.js";
import { SerialSender } from "./serialSend.js";
import {
  allOnThisHost,
  mapSharedRegions,
  reduceOwnSegment,
  type SharedRegions,
  sharedMemoryAddon,
} from "./sharedRegions.js";

/**
 * Ring all-reduce over ZeroMQ, framework-free: Float32Arrays in, reduced in place.
 *
 *   const ring = await RingAllReduce.open({ bind: "tcp://127.0.0.1:0", keys });   // ring.endpoint → coordinator
 *   await ring.join({ rank, worldSize, next: endpoints[(rank + 1) % worldSize] });
 *   await ring.allReduce(grads, { average: true, fp16: amp });
 *   await ring.broadcast(weights, 0);
 *   ring.close();
 *
 * Each rank receives on one PULL socket (bound) and sends on one PUSH socket connected to the next rank.
 * Frames stream chunk by chunk: a chunk received at step g is reduced and forwarded as step g + 1 at once,
 * so the wire stays busy while JavaScript adds. Sends whose frames might still sit in ZeroMQ's queues when
 * a collective returns always come from buffers the ring owns (received frames or fresh encodings), never
 * from the caller's array, so the caller may overwrite its array as soon as the promise resolves.
 */
export interface RingOpenOptions {
  /**
   * where this rank's receiver binds; port 0 picks a free port. Default tcp://127.0.0.1:0. A loopback TCP
   * address can only be dialled from this host, so (transport "auto") the receiver binds a Unix socket
   * instead: same reach, but the kernel skips the TCP stack on every frame.
   */
  bind?: string;
  /** "auto" (default): ipc:// for a loopback bind, else as given; "as-given": exactly `bind` */
  transport?: "auto" | "as-given";
  /**
   * Default true: when all ranks turn out to be on this host, large fp32 all-reduces move their payload
   * through shared memory (sharedRegions.ts) and the sockets carry only barriers. All ranks must agree.
   */
  sharedMemory?: boolean;
  /** host peers should dial when `bind` is a wildcard address (0.0.0.0) */
  advertiseHost?: string;
  /** CURVE keys of the run: required when bind or next is beyond loopback */
  keys?: RunKeys;
  /** largest payload frame; all ranks must agree. Default 1 MiB */
  chunkBytes?: number;
  /** how long to wait for the previous rank before failing a collective. Default 5 minutes */
  timeoutMs?: number;
  /** ring generation; frames of other generations are dropped (stale peers after a restart) */
  generation?: number;
  /** where dropped frames are reported; default stderr */
  log?: (line: string) => void;
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

export class RingError extends Error {
  override readonly name = "RingError";
}

export class RingAllReduce {
  rank = 0;
  worldSize = 1;
  /** bytes of payload sent and received since open, for the allreduce_bytes metric */
  readonly stats = { bytesSent: 0, bytesReceived: 0 };
  private push?: zmq.Push;
  /**
   * Every rank's endpoint when all ranks are on this host and can share memory; null when they cannot;
   * undefined until the first large all-reduce asked them (sharedRegions.ts).
   */
  private sharedEndpoints?: readonly string[] | null;
  private regions?: SharedRegions;
  private scratch?: Float32Array;
  private sharedOps = 0;
  private op = 0;
  private pending: Promise<unknown> = Promise.resolve();
  private broken?: Error;
  private readonly chunkBytes: number;
  private readonly timeoutMs: number;
  private readonly generation: number;
  private readonly log: (line: string) => void;

  private constructor(
    private readonly pull: zmq.Pull | undefined,
    /** the endpoint other ranks dial to reach this rank's receiver */
    readonly endpoint: string,
    private readonly options: RingOpenOptions,
    /** private directory of an ipc receiver, removed on close */
    private readonly ipcDir?: string,
  ) {
    this.chunkBytes = options.chunkBytes ?? 1 << 20;
    if (!Number.isInteger(this.chunkBytes) || this.chunkBytes < 4 || this.chunkBytes % 4 !== 0) {
      throw new RangeError(`ring: chunkBytes must be a positive multiple of 4, got ${this.chunkBytes}`);
    }
    this.timeoutMs = options.timeoutMs ?? 300_000;
    this.generation = options.generation ?? 0;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** A ring of one: collectives return at once and no socket is opened. */
  static solo(): RingAllReduce {
    return new RingAllReduce(undefined, "", {});
  }

  /** Binds this rank's receiver; hand `endpoint` to the other ranks, then `join`. */
  static async open(options: RingOpenOptions = {}): Promise<RingAllReduce> {
    const bind = options.bind ?? "tcp://127.0.0.1:0";
    requireKeysFor([bind], options.keys, "ring bind address");
    const chunkBytes = options.chunkBytes ?? 1 << 20;
    const pull = new zmq.Pull({
      receiveHighWaterMark: 64,
      maxMessageSize: Math.max(chunkBytes, HEADER_BYTES),
      receiveTimeout: options.timeoutMs ?? 300_000,
      linger: 0,
    });
    secureServer(pull, options.keys);
    warmReduce();
    const useIpc = (options.transport ?? "auto") === "auto" && bind.startsWith("tcp://") && isLoopbackEndpoint(bind);
    // A 0700 directory of our own: no other user can connect to or replace the socket file.
    const ipcDir = useIpc ? mkdtempSync(join(tmpdir(), "voxring-ring-")) : undefined;
    try {
      await pull.bind(ipcDir ? `ipc://${join(ipcDir, "recv")}` : bind.replace(/:0$/, ":*"));
    } catch (error) {
      pull.close();
      if (ipcDir) rmSync(ipcDir, { recursive: true, force: true });
      throw error;
    }
    let endpoint = pull.lastEndpoint ?? bind;
    if (options.advertiseHost) endpoint = endpoint.replace(/^tcp:\/\/.*:(\d+)$/, `tcp://${options.advertiseHost}:$1`);
    return new RingAllReduce(pull, endpoint, options, ipcDir);
  }

  /** Takes a place in the ring: connects the sender to the next rank's receiver. */
  async join({ rank, worldSize, next }: RingJoin): Promise<void> {
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`ring: bad world size ${worldSize}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new RangeError(`ring: bad rank ${rank}`);
    this.rank = rank;
    this.worldSize = worldSize;
    if (worldSize === 1) return;
    if (!this.pull) throw new RingError("ring: a solo ring cannot join a larger one; use RingAllReduce.open");
    if (!next) throw new RingError(`ring: rank ${rank} of ${worldSize} needs the next rank's endpoint`);
    requireKeysFor([next], this.options.keys, "ring next endpoint");
    // Linger so that frames still queued when the process closes the ring reach the next rank.
    this.push = new zmq.Push({ sendHighWaterMark: 64, linger: 10_000 });
    secureClient(this.push, this.options.keys);
    this.push.connect(next);
  }

  /** Whether large fp32 all-reduces go through shared memory; undefined before the first one. */
  get sharesMemory(): boolean | undefined {
    if (this.options.sharedMemory === false) return false;
    return this.sharedEndpoints === undefined ? undefined : this.sharedEndpoints !== null;
  }

  /**
   * An array of `length` floats that all-reduces without being copied: once shared memory is in use (from
   * the first large all-reduce on), a view of this rank's shared region, else an array kept for reuse. Fill
   * it, all-reduce it, read the result; its contents last until this ring's next collective.
   */
  buffer(length: number): Float32Array {
    const own = this.regions?.payloads[this.rank];
    if (own && own.length >= length) return own.subarray(0, length);
    if (this.scratch?.length !== length) this.scratch = new Float32Array(length);
    return this.scratch;
  }

  /** Sums (or averages) `data` across all ranks, in place. Every rank must call it with the same length. */
  async allReduce(data: Float32Array, { average, fp16 = false }: AllReduceOptions): Promise<void> {
    if (this.worldSize === 1) return;
    if (this.options.sharedMemory !== false && data.length >= SHARED_MIN_ELEMENTS) {
      return this.serialized(async () => {
        if (this.sharedEndpoints === undefined) this.sharedEndpoints = await this.findSharedHost();
        if (this.sharedEndpoints) await this.sharedAllReduce(data, average, fp16);
        else await this.streamAllReduce(data, { average, fp16 });
      });
    }
    return this.serialized(() => this.streamAllReduce(data, { average, fp16 }));
  }

  /** The socket all-reduce: chunks stream around the ring (run inside `serialized`). */
  private async streamAllReduce(data: Float32Array, { average, fp16 = false }: AllReduceOptions): Promise<void> {
    const n = this.worldSize;
    const plan = ringPlan(data.length, n, this.chunkBytes / 4);
    const wire = fp16 ? WireType.f16 : WireType.f32;
    const r = this.rank;
    const lastStep = 2 * (n - 1) - 1;
    await this.runCollective(FrameKind.allReduce, wire, framesToReceive(plan, r), plan, false, (send) => {
      for (let c = 0; c < plan.chunkCount[r]; c++) {
        const [lo, hi] = chunkRange(plan, r, c);
        send(0, c, fp16 ? encoded(data.subarray(lo, hi)) : bytesOf(data.subarray(lo, hi)));
      }
      return (h, payload, send) => {
        const [lo, hi] = chunkRange(plan, receiveSegment(r, h.step, n), h.chunk);
        const target = data.subarray(lo, hi);
        let out: Buffer;
        if (h.step < n - 2) {
          // Reduce-scatter: add and pass the partial sum on (causally received before this region changes).
          if (fp16) {
            // The received frame is ours: it carries the re-rounded partial sum on, no new buffer.
            const halves = uint16View(payload);
            addEncodeHalf(halves, target);
            out = bytesOf(halves);
          } else {
            addInto(float32View(payload), target);
            out = bytesOf(target);
          }
        } else if (h.step === n - 2) {
          // The last contribution: this rank now owns the reduced chunk and starts it around the ring.
          if (fp16) {
            const halves = uint16View(payload);
            finishHalf(halves, target, average ? n : 1);
            out = bytesOf(halves);
          } else {
            out = finish(payload, target, average ? n : 1);
          }
        } else {
          // All-gather: take the owner's values and forward the very frame we received.
          if (fp16) decodeHalf(uint16View(payload), target);
          else target.set(float32View(payload));
          out = payload;
        }
        if (h.step < lastStep) send(h.step + 1, h.chunk, out);
      };
    });
  }

  /**
   * Every rank's endpoint if all ranks can share memory on this host, else null: each rank writes a flag and
   * its endpoint's bytes into its own slot of a table the ring sums (slots of other ranks are zeros, so the
   * sum is exact), hence every rank reaches the same decision.
   */
  private async findSharedHost(): Promise<string[] | null> {
    const slot = 1 + ENDPOINT_MAX_BYTES;
    const table = new Float32Array(this.worldSize * slot);
    const bytes = Buffer.from(this.endpoint, "utf8");
    if (sharedMemoryAddon() && allOnThisHost([this.endpoint]) && bytes.length <= ENDPOINT_MAX_BYTES) {
      table[this.rank * slot] = 1;
      table.set(bytes, this.rank * slot + 1);
    }
    await this.streamAllReduce(table, { average: false });
    const endpoints: string[] = [];
    for (let k = 0; k < this.worldSize; k++) {
      if (table[k * slot] !== 1) return null;
      const chars = table.subarray(k * slot + 1, (k + 1) * slot);
      const end = chars.indexOf(0);
      endpoints.push(Buffer.from(chars.subarray(0, end < 0 ? chars.length : end)).toString("utf8"));
    }
    return allOnThisHost(endpoints) ? endpoints : null;
  }

  /**
   * The shared-memory all-reduce (run inside `serialized`): copy in (unless `data` is this rank's region,
   * see buffer()), barrier, sum this rank's segment across every region and write it back into all of them,
   * barrier, copy out. No closing barrier is needed: after the second barrier no rank touches another's
   * region until every rank has entered the next collective's first barrier, and a rank refills its own
   * region only after its own second barrier, when every write into it has happened.
   */
  private async sharedAllReduce(data: Float32Array, average: boolean, fp16: boolean): Promise<void> {
    const addon = sharedMemoryAddon();
    const endpoints = this.sharedEndpoints;
    if (!addon || !endpoints) throw new RingError("ring: shared memory is not available");
    if (this.broken) throw this.broken;
    const n = this.worldSize;
    const r = this.rank;
    const barrier = () => this.streamAllReduce(new Float32Array(1), { average: false });
    try {
      if (!this.regions || this.regions.capacity < data.length) {
        this.regions = undefined; // the old mappings go with the GC
        this.regions = await mapSharedRegions(addon, endpoints, r, data.length, barrier);
      }
      const { headers, payloads } = this.regions;
      const own = payloads[r];
      const inPlace = data.buffer === own.buffer && data.byteOffset === own.byteOffset;
      if (!inPlace) own.set(data);
      const op = ++this.sharedOps >>> 0;
      headers[r][0] = data.length;
      headers[r][1] = op;
      headers[r][2] = fp16 ? 1 : 0;
      await barrier();
      headers.forEach((h, k) => {
        if (h[0] !== data.length || h[1] !== op)
          throw new RingError(
            `ring: rank ${k} shared ${h[0]} floats for collective #${h[1]}, this rank ${data.length} for #${op}`,
          );
        if (h[2] !== headers[r][2]) throw new RingError(`ring: rank ${k} disagrees on fp16 (do all ranks agree?)`);
      });
      const plan = ringPlan(data.length, n, Math.max(1, data.length));
      reduceOwnSegment(addon, this.regions, plan.segmentStart[r], plan.segmentStart[r + 1], average ? n : 1, fp16);
      await barrier();
      if (!inPlace) data.set(own.subarray(0, data.length));
      // Counted as the ring would have moved it, so the allreduce_bytes metric means the same either way.
      const ringBytes = Math.round(((2 * (n - 1)) / n) * data.byteLength);
      this.stats.bytesSent += ringBytes;
      this.stats.bytesReceived += ringBytes;
    } catch (error) {
      this.broken ??= error instanceof Error ? error : new RingError(String(error));
      throw this.broken;
    }
  }

  /** Copies `data` of rank `root` into `data` of every rank (same length everywhere). */
  async broadcast(data: Float32Array, root: number): Promise<void> {
    const n = this.worldSize;
    if (n === 1) return;
    if (!Number.isInteger(root) || root < 0 || root >= n) throw new RangeError(`broadcast: bad root ${root}`);
    const plan = ringPlan(data.length, 1, this.chunkBytes / 4);
    const chunks = plan.chunkCount[0];
    const distance = (this.rank - root + n) % n;
    // The root waits for one ack from the last rank (its previous neighbour): the whole ring has the data.
    const expected = distance === 0 ? 1 : chunks;
    await this.collective(FrameKind.broadcast, WireType.f32, expected, plan, distance === 0, (send) => {
      if (distance === 0) {
        for (let c = 0; c < chunks; c++) {
          const [lo, hi] = chunkRange(plan, 0, c);
          send(0, c, bytesOf(data.subarray(lo, hi)));
        }
      }
      let received = 0;
      return (h, payload, send) => {
        if (distance === 0) return; // the ack
        const [lo, hi] = chunkRange(plan, 0, h.chunk);
        data.subarray(lo, hi).set(float32View(payload));
        if (distance < n - 1) send(0, h.chunk, payload);
        else if (++received === chunks) send(0, 0, Buffer.alloc(0), FrameKind.ack);
      };
    });
  }

  /** Returns once every rank has called barrier (a one-element all-reduce: 2(N−1) hops cover the ring). */
  async barrier(): Promise<void> {
    await this.allReduce(new Float32Array(1), { average: false });
  }

  close(): void {
    this.push?.close();
    this.pull?.close();
    this.push = undefined;
    this.regions = undefined;
    if (this.ipcDir) rmSync(this.ipcDir, { recursive: true, force: true });
  }

  /**
   * Collectives run one at a time in call order: a caller that starts the next one before awaiting the
   * last gets the same numbering on every rank instead of interleaved frames.
   */
  private collective(...args: Parameters<RingAllReduce["runCollective"]>): Promise<void> {
    return this.serialized(() => this.runCollective(...args));
  }

  private serialized(run: () => Promise<void>): Promise<void> {
    const done = this.pending.then(run);
    this.pending = done.catch(() => {});
    return done;
  }

  /**
   * One collective: `start` queues this rank's first frames and returns the handler for each received
   * frame, which may queue more. Frames are checked against the plan before the handler sees them.
   */
  private async runCollective(
    kind: FrameKind,
    wire: WireType,
    expectedFrames: number,
    plan: RingPlan,
    acceptAck: boolean,
    start: (send: Sender) => (h: FrameHeader, payload: Buffer, send: Sender) => void,
  ): Promise<void> {
    if (this.broken) throw this.broken;
    const pull = this.pull;
    const push = this.push;
    if (!pull || !push) throw new RingError("ring: join the ring before a collective");
    const op = this.op++;
    const queue = new SendQueue(push);
    const send: Sender = (step, chunk, payload, frameKind = kind) => {
      this.stats.bytesSent += payload.byteLength;
      queue.push([
        encodeHeader({
          generation: this.generation,
          op,
          kind: frameKind,
          wire,
          step,
          chunk,
          bytes: payload.byteLength,
        }),
        payload,
      ]);
    };
    const seen = new Set<number>();
    const elemBytes = wire === WireType.f16 ? 2 : 4;
    const steps = kind === FrameKind.allReduce ? 2 * (plan.worldSize - 1) : 1;
    try {
      const onFrame = start(send);
      for (let got = 0; got < expectedFrames; ) {
        const frames = await Promise.race([this.receive(), queue.failure]);
        if (frames.length !== 2) throw new RingError(`ring: message of ${frames.length} frames from rank ${this.prev}`);
        const h = decodeHeader(frames[0]);
        if (typeof h !== "string" && h.generation !== this.generation) {
          this.log(`ring: dropped a frame of generation ${h.generation} (this ring is ${this.generation})`);
          continue;
        }
        const problem =
          typeof h === "string" ? h : this.check(h, frames[1], op, kind, wire, steps, plan, elemBytes, seen, acceptAck);
        if (problem) throw new RingError(`ring: rejected a frame from rank ${this.prev}: ${problem}`);
        this.stats.bytesReceived += frames[1].byteLength;
        onFrame(h as FrameHeader, frames[1], send);
        got++;
      }
      await queue.drain();
    } catch (error) {
      // A half-done collective leaves the peers mid-protocol: the ring is unusable until rebuilt.
      this.broken = error instanceof Error ? error : new RingError(String(error));
      throw this.broken;
    }
  }

  private check(
    h: FrameHeader,
    payload: Buffer,
    op: number,
    kind: FrameKind,
    wire: WireType,
    steps: number,
    plan: RingPlan,
    elemBytes: number,
    seen: Set<number>,
    acceptAck: boolean,
  ): string | undefined {
    if (h.op !== op) return `collective #${h.op}, expected #${op}`;
    if (h.kind === FrameKind.ack) return acceptAck && payload.byteLength === 0 ? undefined : "unexpected ack";
    if (h.kind !== kind) return `kind ${h.kind}, expected ${kind}`;
    if (h.wire !== wire) return `wire type ${h.wire}, expected ${wire} (do all ranks agree on fp16?)`;
    if (h.step >= steps) return `step ${h.step} of ${steps}`;
    const segment = kind === FrameKind.allReduce ? receiveSegment(this.rank, h.step, plan.worldSize) : 0;
    if (h.chunk >= plan.chunkCount[segment]) return `chunk ${h.chunk} of ${plan.chunkCount[segment]}`;
    const key = h.step * 0x100000000 + h.chunk;
    if (seen.has(key)) return `duplicate step ${h.step} chunk ${h.chunk}`;
    seen.add(key);
    const [lo, hi] = chunkRange(plan, segment, h.chunk);
    const bytes = (hi - lo) * elemBytes;
    if (h.bytes !== bytes || payload.byteLength !== bytes) {
      return `step ${h.step} chunk ${h.chunk} has ${payload.byteLength} bytes, expected ${bytes} (same length on every rank?)`;
    }
    return undefined;
  }

  private get prev(): number {
    return (this.rank - 1 + this.worldSize) % this.worldSize;
  }

  private async receive(): Promise<Buffer[]> {
    try {
      return await (this.pull as zmq.Pull).receive();
    } catch (error) {
      if ((error as { code?: string }).code === "EAGAIN") {
        throw new RingError(`ring: nothing from rank ${this.prev} within ${this.timeoutMs} ms`);
      }
      throw error;
    }
  }
}

/** Endpoint strings are capped at this many bytes by the control messages' schema too. */
const ENDPOINT_MAX_BYTES = 512;

/** Below this an all-reduce is latency-bound: three barriers would cost more than streaming the data. */
const SHARED_MIN_ELEMENTS = 1 << 16;

type Sender = (step: number, chunk: number, payload: Buffer, kind?: FrameKind) => void;

/** The ring's sends in order; the first failure is raced against receives so nobody waits for a dead peer. */
class SendQueue {
  private readonly sender: SerialSender;
  private error: unknown;
  private fail!: (error: unknown) => void;
  readonly failure = new Promise<never>((_, reject) => {
    this.fail = reject;
  });

  constructor(socket: zmq.Push) {
    this.sender = new SerialSender(socket);
    this.failure.catch(() => {});
  }

  push(frames: Buffer[]): void {
    this.sender.send(frames).catch((error) => {
      this.error ??= error;
      this.fail(error);
    });
  }

  async drain(): Promise<void> {
    await this.sender.idle();
    if (this.error !== undefined) throw this.error;
  }
}

/** dst = out = (dst + payload) / divisor; `out` is the payload's own memory, which this rank owns. */
function finish(payload: Buffer, target: Float32Array, divisor: number): Buffer {
  const src = float32View(payload);
  addScaleBoth(src, target, divisor);
  return bytesOf(src);
}

function encoded(values: Float32Array): Buffer {
  const half = new Uint16Array(values.length);
  encodeHalf(values, half);
  return bytesOf(half);
}
