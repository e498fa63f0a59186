import { type DataPlane, type DataPlaneResult, ringArithmetic } from "./arithmetic.js";
import { advertisedEndpoint, receiverAddress, removeReceiverDir } from "./receiver.js";
import { requireKeysFor } from "./security.js";
import { RingError, RingStallError, type StreamRingOptions } from "./streamRing.js";
import type { RingStream } from "./transport.js";

/**
 * The streamed ring with its data plane in native code (native/src/comm/DataPlane.cc, installed through
 * arithmetic.ts): the same ZeroMQ PUSH/PULL ring, CURVE keys, frames and checks as streamRing.ts, but the
 * socket I/O and the reduction run on a thread of the comm addon. Each frame is received into a ZeroMQ
 * message, added into its target segment in the pass that writes the forwarded values back into it, and sent
 * on as it is: no fresh buffer per frame for the garbage collector, and the JavaScript thread is free while a
 * collective runs. Same frames and the same float operations in the same order as the JavaScript ring, so
 * native and JavaScript ranks can form one ring and get bitwise the same results.
 *
 *   if (NativeStreamRing.available()) ring = await NativeStreamRing.open({ bind, keys });
 */
export class NativeStreamRing implements RingStream {
  rank = 0;
  worldSize = 1;
  readonly dataPlane = "native";
  /** DataPlane.cc runs collectives one at a time in the order they were posted */
  readonly queuesAtCall = true;
  readonly stats = { bytesSent: 0, bytesReceived: 0, droppedFrames: 0 };
  private broken?: Error;
  /** collectives started, numbered as the JavaScript ring numbers them (for stall reports) */
  private ops = 0;
  private timeoutMs: number;
  private readonly log: (line: string) => void;

  private constructor(
    private readonly plane: DataPlane,
    readonly endpoint: string,
    private readonly options: StreamRingOptions,
    private readonly ipcDir?: string,
  ) {
    this.timeoutMs = options.timeoutMs ?? 300_000;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** Whether the installed kernels carry the data plane (the comm addon built against libzmq). */
  static available(): boolean {
    return ringArithmetic()?.DataPlane !== undefined;
  }

  /** Binds this rank's receiver; hand `endpoint` to the other ranks, then `join`. */
  static async open(options: StreamRingOptions = {}): Promise<NativeStreamRing> {
    const Plane = ringArithmetic()?.DataPlane;
    if (!Plane) throw new RingError("ring: the native data plane is not installed (installNativeRingArithmetic)");
    const bind = options.bind ?? "tcp://127.0.0.1:0";
    requireKeysFor([bind], options.keys, "ring bind address");
    const chunkBytes = options.chunkBytes ?? 1 << 20;
    if (!Number.isInteger(chunkBytes) || chunkBytes < 4 || chunkBytes % 4 !== 0) {
      throw new RangeError(`ring: chunkBytes must be a positive multiple of 4, got ${chunkBytes}`);
    }
    const plane = new Plane({ chunkBytes, generation: options.generation ?? 0, ...options.keys });
    const { address, ipcDir } = receiverAddress(bind, options.transport, options.ipcParent);
    let bound: string;
    try {
      bound = plane.bind(address);
    } catch (error) {
      plane.close();
      removeReceiverDir(ipcDir);
      throw error;
    }
    return new NativeStreamRing(plane, advertisedEndpoint(bound, options.advertiseHost), options, ipcDir);
  }

  /** Takes a place in the ring: connects the sender to the next rank's receiver. */
  async join(rank: number, worldSize: number, next: string | undefined): Promise<void> {
    this.rank = rank;
    this.worldSize = worldSize;
    if (worldSize === 1) return;
    if (!next) throw new RingError(`ring: rank ${rank} of ${worldSize} needs the next rank's endpoint`);
    requireKeysFor([next], this.options.keys, "ring next endpoint");
    this.plane.connect(next, rank, worldSize);
  }

  /**
   * Sums (or averages) `data` across all ranks, in place. Fails with a RingError when no frame came from the
   * previous rank for `timeoutMs` (default: the ring's timeout).
   */
  allReduce(data: Float32Array, average: boolean, fp16: boolean, timeoutMs = this.timeoutMs): Promise<void> {
    if (this.worldSize === 1) return Promise.resolve();
    return this.collective("all-reduce", () => this.plane.allReduce(data, average, fp16, timeoutMs));
  }

  /** Copies `data` of rank `root` into `data` of every rank (same length everywhere). */
  broadcast(data: Float32Array, root: number, timeoutMs = this.timeoutMs): Promise<void> {
    if (this.worldSize === 1) return Promise.resolve();
    return this.collective("broadcast", () => this.plane.broadcast(data, root, timeoutMs));
  }

  /** The progress timeout of the collectives from now on (see StreamRingOptions.timeoutMs). */
  setProgressTimeout(ms: number): void {
    if (!(Number.isInteger(ms) && ms > 0)) throw new RangeError(`ring: bad progress timeout ${ms} ms`);
    this.timeoutMs = ms;
  }

  fail(error: unknown): Error {
    this.broken ??= error instanceof Error ? error : new RingError(String(error));
    return this.broken;
  }

  close(): void {
    this.plane.close();
    removeReceiverDir(this.ipcDir);
  }

  private async collective(kind: string, run: () => Promise<DataPlaneResult>): Promise<void> {
    if (this.broken) throw this.broken;
    const op = this.ops++;
    let result: DataPlaneResult;
    try {
      result = await run();
    } catch (error) {
      const message = (error as Error).message;
      // The data plane's progress timeout is a stall, reported as the JavaScript ring reports it.
      const stalled = /nothing from rank (\d+) within (\d+) ms/.exec(message);
      const where = `${kind} #${op} on the native data plane`;
      throw this.fail(
        stalled ? new RingStallError(Number(stalled[1]), Number(stalled[2]) / 1000, where) : new RingError(message),
      );
    }
    this.stats.bytesSent += result.bytesSent;
    this.stats.bytesReceived += result.bytesReceived;
    this.stats.droppedFrames += result.droppedFrames;
    for (const line of result.log) this.log(line);
  }
}
