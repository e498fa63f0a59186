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
