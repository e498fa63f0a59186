/**
 * One all-reduce, several ways to move it (as Horovod's ops): RingAllReduce asks each transport of its
 * ordered list in turn and the first enabled one runs the collective. Every rank holds the same list and
 * asks in the same order, so every rank picks the same transport.
 */
export interface AllReduceTransport {
  readonly name: string;
  /** Whether this transport takes an all-reduce of `length` floats (it may run a collective to find out). */
  enabled(length: number): boolean | Promise<boolean>;
  /** Sums (or averages) `data` across all ranks, in place. */
  allReduce(data: Float32Array, average: boolean, fp16: boolean): Promise<void>;
}

/**
 * The streamed ring of one rank, in JavaScript (streamRing.ts) or native code (nativeStreamRing.ts): the
 * same frames on the wire, so ranks of either kind form one ring. RingAllReduce runs its collectives on it
 * one at a time; the shared-memory transport uses it for its barriers.
 */
export interface RingStream {
  readonly rank: number;
  readonly worldSize: number;
  /** the endpoint other ranks dial to reach this rank's receiver */
  readonly endpoint: string;
  /** "js" or "native": who moves the frames */
  readonly dataPlane: "js" | "native";
  /**
   * Collectives called before the last has finished are queued, in call order, by the data plane itself
   * (the native one's thread), so a caller may hand them over at once rather than one after the other.
   */
  readonly queuesAtCall: boolean;
  /** bytes of payload sent and received since open (the allreduce_bytes metric), foreign frames dropped */
  readonly stats: { bytesSent: number; bytesReceived: number; droppedFrames: number };
  join(rank: number, worldSize: number, next: string | undefined): Promise<void>;
  allReduce(data: Float32Array, average: boolean, fp16: boolean): Promise<void>;
  broadcast(data: Float32Array, root: number): Promise<void>;
  /** a collective that receives nothing for this long fails with a RingStallError */
  setProgressTimeout(ms: number): void;
  /** marks the ring unusable and returns the error every later collective throws */
  fail(error: unknown): Error;
  close(): void;
}
