import * as zmq from "zeromq";
import { addEncodeHalf, decodeHalf, encodeHalf, finishHalf } from "./fp16.js";
import { bytesOf, float32View, uint16View } from "./frames.js";
import { advertisedEndpoint, receiverAddress, removeReceiverDir } from "./receiver.js";
import { addInto, addScaleBoth } from "./reduce.js";
import { decodeHeader, encodeHeader, type FrameHeader, FrameKind, HEADER_BYTES, WireType } from "./ringFrame.js";
import { chunkRange, framesToReceive, type RingPlan, receiveSegment, ringPlan } from "./ringPlan.js";
import { type RunKeys, requireKeysFor, secureClient, secureServer } from "./security.js";
import { SerialSender } from "./serialSend.js";
import type { RingStream } from "./transport.js";

/**
 * The streamed ring: each rank receives on one PULL socket (bound) and sends on one PUSH socket connected to
 * the next rank. Frames stream chunk by chunk: a chunk received at step g is reduced and forwarded as step
 * g + 1 at once, so the wire stays busy while JavaScript adds. Sends whose frames might still sit in ZeroMQ's
 * queues when a collective returns always come from buffers the ring owns (received frames or fresh
 * encodings), never from the caller's array, so the caller may overwrite its array as soon as the promise
 * resolves. Callers run one collective at a time (RingAllReduce serializes them).
 */
export interface StreamRingOptions {
  /**
   * where this rank's receiver binds; port 0 picks a free port. Default tcp://127.0.0.1:0. A loopback TCP
   * address can only be dialled from this host, so (transport "auto") the receiver binds a Unix socket
   * instead: same reach, but the kernel skips the TCP stack on every frame.
   */
  bind?: string;
  /** "auto" (default): ipc:// for a loopback bind, else as given; "as-given": exactly `bind` */
  transport?: "auto" | "as-given";
  /** host peers should dial when `bind` is a wildcard address (0.0.0.0) */
  advertiseHost?: string;
  /** CURVE keys of the run: required when bind or next is beyond loopback */
  keys?: RunKeys;
  /** largest payload frame; all ranks must agree. Default 1 MiB */
  chunkBytes?: number;
  /**
   * How long a collective may go without a frame from the previous rank before it fails with a RingStallError
   * (a progress timer, as NCCL's watchdog: a slow collective that still moves is fine). Default 5 minutes;
   * setProgressTimeout changes it between collectives.
   */
  timeoutMs?: number;
  /** ring generation; frames of other generations are dropped (stale peers after a restart) */
  generation?: number;
  /** where dropped frames are reported; default stderr */
  log?: (line: string) => void;
  /** folder the ipc receiver's private directory is made in (the run's, removed by its coordinator); default the temp folder */
  ipcParent?: string;
}

/** Room above a payload for what the socket layer adds before its size check (CURVE: about 40 bytes). */
const FRAME_SLACK_BYTES = 64 << 10;
/** Log lines per collective for dropped foreign frames (DataPlane.cc has the same bound). */
const MAX_DROP_LINES = 5;

/** Environment variable by which a coordinator hands its local workers the run's folder (ipcParent). */
export const RING_DIR_ENV = "VOXRING_RING_DIR";

export class RingError extends Error {
  override readonly name = "RingError";
}

/** A collective made no progress: nothing came from `waitingFor` for `seconds`, `where` says in which hop. */
export class RingStallError extends RingError {
  constructor(
    readonly waitingFor: number,
    readonly seconds: number,
    readonly where: string,
  ) {
    super(`ring: no frame from rank ${waitingFor} for ${seconds} s in ${where}`);
  }
}

export class StreamRing implements RingStream {
  rank = 0;
  worldSize = 1;
  readonly dataPlane = "js";
  /** its collectives run on the JavaScript thread: RingAllReduce starts each once the last has finished */
  readonly queuesAtCall = false;
  /** bytes of payload sent and received since open, for the allreduce_bytes metric */
  /** droppedFrames: frames that were not a ring frame at all (wrong frame count, no header), dropped. */
  readonly stats = { bytesSent: 0, bytesReceived: 0, droppedFrames: 0 };
  private push?: zmq.Push;
  private op = 0;
  private broken?: Error;
  private readonly chunkBytes: number;
  private timeoutMs: number;
  private readonly generation: number;
  private readonly log: (line: string) => void;

  private constructor(
    private readonly pull: zmq.Pull | undefined,
    /** the endpoint other ranks dial to reach this rank's receiver */
    readonly endpoint: string,
    private readonly options: StreamRingOptions,
    /** private directory of an ipc receiver, removed on close */
    private readonly ipcDir?: string,
  ) {
    this.chunkBytes = options.chunkBytes ?? 1 << 20;
    this.timeoutMs = options.timeoutMs ?? 300_000;
    this.generation = options.generation ?? 0;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** A ring of one: collectives return at once and no socket is opened. */
  static solo(): StreamRing {
    return new StreamRing(undefined, "", {});
  }

  /** Binds this rank's receiver; hand `endpoint` to the other ranks, then `join`. */
  static async open(options: StreamRingOptions = {}): Promise<StreamRing> {
    const bind = options.bind ?? "tcp://127.0.0.1:0";
    requireKeysFor([bind], options.keys, "ring bind address");
    const chunkBytes = options.chunkBytes ?? 1 << 20;
    if (!Number.isInteger(chunkBytes) || chunkBytes < 4 || chunkBytes % 4 !== 0) {
      throw new RangeError(`ring: chunkBytes must be a positive multiple of 4, got ${chunkBytes}`);
    }
    const pull = new zmq.Pull({
      receiveHighWaterMark: 64,
      // libzmq applies ZMQ_MAXMSGSIZE to a frame with CURVE's box around it (nonce, MAC, command header), and
      // on an oversized frame it drops the connection without a word: a full chunk would then stall the ring
      // forever. The limit only bounds memory; check() holds every frame to its exact planned size.
      maxMessageSize: Math.max(chunkBytes, HEADER_BYTES) + FRAME_SLACK_BYTES,
      receiveTimeout: options.timeoutMs ?? 300_000,
      linger: 0,
    });
    secureServer(pull, options.keys);
    const { address, ipcDir } = receiverAddress(bind, options.transport, options.ipcParent);
    try {
      await pull.bind(address);
    } catch (error) {
      pull.close();
      removeReceiverDir(ipcDir);
      throw error;
    }
    return new StreamRing(pull, advertisedEndpoint(pull.lastEndpoint ?? bind, options.advertiseHost), options, ipcDir);
  }

  /** The progress timeout of the collectives from now on (see StreamRingOptions.timeoutMs). */
  setProgressTimeout(ms: number): void {
    if (!(Number.isInteger(ms) && ms > 0)) throw new RangeError(`ring: bad progress timeout ${ms} ms`);
    this.timeoutMs = ms;
    if (this.pull) this.pull.receiveTimeout = ms;
  }

  /** Takes a place in the ring: connects the sender to the next rank's receiver. */
  async join(rank: number, worldSize: number, next: string | undefined): Promise<void> {
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

  /** Sums (or averages) `data` across all ranks, in place, streaming chunks around the ring. */
  async allReduce(data: Float32Array, average: boolean, fp16: boolean): Promise<void> {
    const n = this.worldSize;
    if (n === 1) return;
    const plan = ringPlan(data.length, n, this.chunkBytes / 4);
    const wire = fp16 ? WireType.f16 : WireType.f32;
    const r = this.rank;
    const lastStep = 2 * (n - 1) - 1;
    await this.collective(FrameKind.allReduce, wire, framesToReceive(plan, r), plan, false, (send) => {
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

  /** Copies `data` of rank `root` into `data` of every rank (same length everywhere). */
  async broadcast(data: Float32Array, root: number): Promise<void> {
    const n = this.worldSize;
    if (n === 1) return;
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

  /**
   * Marks the ring unusable (a half-done collective elsewhere leaves the peers mid-protocol) and returns the
   * error every later collective throws.
   */
  fail(error: unknown): Error {
    this.broken ??= error instanceof Error ? error : new RingError(String(error));
    return this.broken;
  }

  close(): void {
    this.push?.close();
    this.pull?.close();
    this.push = undefined;
    removeReceiverDir(this.ipcDir);
  }

  /**
   * One collective: `start` queues this rank's first frames and returns the handler for each received
   * frame, which may queue more. Frames are checked against the plan before the handler sees them.
   */
  private async collective(
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
    let dropped = 0;
    const elemBytes = wire === WireType.f16 ? 2 : 4;
    const steps = kind === FrameKind.allReduce ? 2 * (plan.worldSize - 1) : 1;
    const perStep = new Array<number>(steps).fill(0);
    const where = () => this.describeHop(kind, op, plan, perStep, expectedFrames);
    try {
      const onFrame = start(send);
      for (let got = 0; got < expectedFrames; ) {
        const frames = await Promise.race([this.receive(where), queue.failure]);
        // Not a ring frame at all, or one of another generation: foreign (a stale peer; with CURVE no outsider
        // gets a frame in), so dropped and counted. A ring frame of this generation that disagrees is a real
        // rank out of step: that stays fatal.
        const h = frames.length === 2 ? decodeHeader(frames[0]) : `a message of ${frames.length} frames`;
        const foreign =
          typeof h === "string" ? h : h.generation !== this.generation ? `generation ${h.generation}` : null;
        if (foreign !== null) {
          // A flood of them gets a few lines per collective; the count has them all.
          if (dropped++ < MAX_DROP_LINES)
            this.log(`ring: dropped a foreign frame (${foreign}; this ring is generation ${this.generation})`);
          this.stats.droppedFrames++;
          continue;
        }
        const problem = this.check(
          h as FrameHeader,
          frames[1],
          op,
          kind,
          wire,
          steps,
          plan,
          elemBytes,
          seen,
          acceptAck,
        );
        if (problem) throw new RingError(`ring: rejected a frame from rank ${this.prev}: ${problem}`);
        this.stats.bytesReceived += frames[1].byteLength;
        if ((h as FrameHeader).kind !== FrameKind.ack) perStep[(h as FrameHeader).step]++;
        onFrame(h as FrameHeader, frames[1], send);
        got++;
      }
      await queue.drain();
    } catch (error) {
      throw this.fail(error);
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

  private async receive(where: () => string): Promise<Buffer[]> {
    try {
      return await (this.pull as zmq.Pull).receive();
    } catch (error) {
      if ((error as { code?: string }).code === "EAGAIN") {
        throw new RingStallError(this.prev, Math.round(this.timeoutMs / 100) / 10, where());
      }
      throw error;
    }
  }

  /** Where a collective waits: its number, and the first hop whose frames have not all come. */
  private describeHop(kind: FrameKind, op: number, plan: RingPlan, perStep: number[], expected: number): string {
    const received = perStep.reduce((a, b) => a + b, 0);
    if (kind !== FrameKind.allReduce) return `broadcast #${op} (${received} of ${expected} frames)`;
    const n = plan.worldSize;
    let step = 0;
    while (step < perStep.length - 1 && perStep[step] >= plan.chunkCount[receiveSegment(this.rank, step, n)]) step++;
    const hop =
      step < n - 1 ? `reduce-scatter hop ${step + 1} of ${n - 1}` : `all-gather hop ${step - n + 2} of ${n - 1}`;
    return `all-reduce #${op} (${hop}, ${received} of ${expected} frames)`;
  }
}

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
