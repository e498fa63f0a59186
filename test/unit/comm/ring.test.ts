import { existsSync, readdirSync } from "node:fs";
import { basename, dirname } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { roundToHalf } from "../../../src/comm/fp16.js";
import { RingAllReduce, RingStallError } from "../../../src/comm/ring.js";
import { generateRunKeys } from "../../../src/comm/security.js";
import { installNativeRingArithmetic } from "../../../src/native/ringArithmetic.js";
import { Rng } from "../../../src/random.js";
import { closeAll, forgedHeader, openRing } from "./ringHelpers.js";

describe("RingAllReduce progress timeout", () => {
  it("fails a collective that gets no frame, naming the rank waited for and the hop", async () => {
    // The JavaScript data plane says in which hop it waited (the native one: nativeStreamRing.test.ts).
    const options = { chunkBytes: 4096, sharedMemory: false, nativeDataPlane: false, timeoutMs: 60_000 };
    rings = await openRing(3, options);
    for (const ring of rings) ring.setProgressTimeout(800);
    // Rank 1 never joins the collective: rank 2 waits for it in the first hop, rank 0 one hop later.
    const results = await Promise.allSettled(
      [0, 2].map((r) => rings[r].allReduce(new Float32Array(10_000), { average: true })),
    );
    const [at0, at2] = results.map((r) => (r.status === "rejected" ? r.reason : null));
    expect(at2).toBeInstanceOf(RingStallError);
    expect(at2).toMatchObject({ waitingFor: 1, seconds: 0.8 });
    expect(at2.message).toMatch(
      /^ring: no frame from rank 1 for 0.8 s in all-reduce #0 \(reduce-scatter hop 1 of 2, 0 of \d+ frames\)$/,
    );
    expect(at0).toBeInstanceOf(RingStallError);
    expect(at0).toMatchObject({ waitingFor: 2 });
    expect(at0.message).toMatch(/reduce-scatter hop 2 of 2/);
    expect(() => rings[0].setProgressTimeout(0)).toThrow(RangeError);
  });
});

let rings: RingAllReduce[] = [];
afterEach(() => closeAll(rings));

/** Integer-valued floats: their sums are exact in any order, so the ring must match to the bit. */
function integerInputs(worldSize: number, length: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: worldSize }, () => {
    const x = new Float32Array(length);
    for (let i = 0; i < length; i++) x[i] = rng.int(2001) - 1000;
    return x;
  });
}

/** Index of the first element where `a` and `b` differ (as float32), or -1; cheap on a million elements. */
function firstMismatch(a: Float32Array, b: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== Math.fround(b[i])) return i;
  return a.length === b.length ? -1 : a.length;
}

function exactSum(inputs: Float32Array[]): Float64Array {
  const sum = new Float64Array(inputs[0].length);
  for (const x of inputs) for (let i = 0; i < x.length; i++) sum[i] += x[i];
  return sum;
}

// The worker installs the native kernels; so do these tests (shared memory needs them).
beforeAll(() => {
  installNativeRingArithmetic();
});

describe("RingAllReduce", () => {
  // Chunks of 4 KB so that even 1001 elements stream in several chunks per segment. Even world sizes move
  // 1_000_003 elements through shared memory, odd ones stream them through the sockets.
  for (const worldSize of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`sums and averages exactly across ${worldSize} ranks for lengths 0, 1, 7, 1001, 1_000_003`, async () => {
      const sharedMemory = worldSize % 2 === 0;
      rings = await openRing(worldSize, { chunkBytes: worldSize > 4 ? 1 << 16 : 4096, sharedMemory });

      for (const length of [0, 1, 7, 1001, 1_000_003]) {
        for (const average of [false, true]) {
          const inputs = integerInputs(worldSize, length, 1000 * worldSize + length + (average ? 1 : 0));
          const expected = exactSum(inputs).map((s) => (average ? s / worldSize : s));
          await Promise.all(rings.map((ring, rank) => ring.allReduce(inputs[rank], { average })));
          for (const result of inputs) expect(firstMismatch(result, expected)).toBe(-1);
        }
      }
      if (worldSize > 1) expect(rings.map((r) => r.sharesMemory)).toEqual(rings.map(() => sharedMemory));
    });
  }

  it("receives over a private Unix socket for a loopback bind, over TCP when told, and mixes both", async () => {
    rings = await Promise.all([
      RingAllReduce.open({ bind: "tcp://127.0.0.1:0", chunkBytes: 4096 }),
      RingAllReduce.open({ bind: "tcp://127.0.0.1:0", chunkBytes: 4096, transport: "as-given" }),
      RingAllReduce.open({ chunkBytes: 4096 }),
    ]);
    expect(rings.map((r) => r.endpoint.split(":")[0])).toEqual(["ipc", "tcp", "ipc"]);
    await Promise.all(
      rings.map((ring, rank) => ring.join({ rank, worldSize: 3, next: rings[(rank + 1) % 3].endpoint })),
    );
    // Large enough to ask whether all ranks share a host: one rank is on TCP, so all stream through sockets.
    const inputs = integerInputs(3, 99_999, 11);
    const expected = exactSum(inputs);
    await Promise.all(rings.map((ring, rank) => ring.allReduce(inputs[rank], { average: false })));
    for (const result of inputs) expect(firstMismatch(result, expected)).toBe(-1);
    expect(rings.map((r) => r.sharesMemory)).toEqual([false, false, false]);
    const socketFile = rings[0].endpoint.slice("ipc://".length);
    expect(existsSync(socketFile)).toBe(true);
    closeAll(rings);
    expect(existsSync(socketFile)).toBe(false);
  });

  it("through shared memory: bitwise equal ranks on random floats, resized regions, nothing left in /dev/shm", async () => {
    rings = await openRing(3, { chunkBytes: 4096 });
    expect(rings[0].sharesMemory).toBeUndefined();
    const rng = new Rng(8);
    for (const length of [100_001, 70_000, 100_001]) {
      const inputs = Array.from({ length: 3 }, () => Float32Array.from({ length }, () => rng.normal()));
      const sum = exactSum(inputs);
      await Promise.all(rings.map((ring, rank) => ring.allReduce(inputs[rank], { average: true })));
      for (let i = 0; i < length; i++) expect(Math.abs(inputs[0][i] - sum[i] / 3)).toBeLessThan(1e-5);
      for (const result of inputs.slice(1))
        expect(Buffer.from(result.buffer).equals(Buffer.from(inputs[0].buffer))).toBe(true);
      expect(rings.every((r) => r.sharesMemory)).toBe(true);
    }
    // small all-reduces and broadcasts between them still stream through the sockets
    const small = integerInputs(3, 1000, 4);
    const smallSum = exactSum(small);
    await Promise.all(rings.map((ring, rank) => ring.allReduce(small[rank], { average: false })));
    for (const result of small) expect(firstMismatch(result, smallSum)).toBe(-1);
    const tags = rings.map((r) => basename(dirname(r.endpoint.slice("ipc://".length))));
    expect(readdirSync("/dev/shm").filter((f) => tags.some((t) => f.startsWith(t)))).toEqual([]);
  });

  it("through shared memory, reduces stretches of ring.buffer in place, back to back, leaving the rest alone", async () => {
    const world = 3;
    const length = 300_000;
    rings = await openRing(world, { chunkBytes: 4096 });
    for (const ring of rings) ring.buffer(length); // asked before the regions exist: they are mapped this long
    const warmUp = integerInputs(world, 100_000, 5);
    await Promise.all(rings.map((ring, rank) => ring.allReduce(warmUp[rank], { average: false })));
    expect(rings.every((r) => r.sharesMemory)).toBe(true);
    // Now a view of the region, new each call (a scratch array would be one object, returned every time).
    const [a, b] = [rings[0].buffer(length), rings[0].buffer(length)];
    expect(a !== b && a.buffer === b.buffer).toBe(true);

    const inputs = integerInputs(world, length, 6);
    const buffers = rings.map((ring, rank) => {
      const buffer = ring.buffer(length);
      buffer.set(inputs[rank]);
      return buffer;
    });
    const sum = exactSum(inputs);
    // Two stretches like two buckets of gradients, the later one first, started without awaiting.
    const stretches: [number, number][] = [
      [170_000, 300_000],
      [70_000, 170_000],
    ];
    await Promise.all(
      rings.flatMap((ring, rank) =>
        stretches.map(([lo, hi]) => ring.allReduce(buffers[rank].subarray(lo, hi), { average: false })),
      ),
    );
    for (const [rank, buffer] of buffers.entries()) {
      expect(firstMismatch(buffer.subarray(70_000), sum.subarray(70_000))).toBe(-1);
      expect(firstMismatch(buffer.subarray(0, 70_000), inputs[rank].subarray(0, 70_000))).toBe(-1);
    }
  });

  it("through shared memory, fails on every rank when ranks reduce stretches at different offsets", async () => {
    rings = await openRing(2, { chunkBytes: 4096, timeoutMs: 5000 });
    for (const ring of rings) ring.buffer(200_000);
    await Promise.all(rings.map((ring) => ring.allReduce(new Float32Array(100_000), { average: false })));
    const results = await Promise.allSettled(
      rings.map((ring, rank) =>
        ring.allReduce(ring.buffer(200_000).subarray(rank, rank + 100_000), { average: false }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/offset/);
  });

  it("through shared memory, fails on every rank when ranks disagree on the length", async () => {
    rings = await openRing(2, { chunkBytes: 4096, timeoutMs: 5000 });
    const results = await Promise.allSettled([
      rings[0].allReduce(new Float32Array(100_000).fill(1), { average: false }),
      rings[1].allReduce(new Float32Array(100_001).fill(1), { average: false }),
    ]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  });

  it("gives every rank bitwise the same result on random floats, close to the float64 sum", async () => {
    rings = await openRing(5, { chunkBytes: 4096 });
    const rng = new Rng(7);
    const inputs = Array.from({ length: 5 }, () => Float32Array.from({ length: 12_345 }, () => rng.normal()));
    const sum = exactSum(inputs);
    await Promise.all(rings.map((ring, rank) => ring.allReduce(inputs[rank], { average: true })));
    for (let i = 0; i < sum.length; i++) expect(Math.abs(inputs[0][i] - sum[i] / 5)).toBeLessThan(1e-5);
    for (const result of inputs.slice(1))
      expect(Buffer.from(result.buffer).equals(Buffer.from(inputs[0].buffer))).toBe(true);
  });

  // 3001 elements stream as half floats; 100_003 go through shared memory and are rounded to fp16 once.
  for (const length of [3001, 100_003])
    it(`stays within fp16 rounding with fp16 on (${length} elements), and every rank agrees`, async () => {
      const worldSize = 4;
      rings = await openRing(worldSize, { chunkBytes: 4096 });
      const rng = new Rng(11);
      const inputs = Array.from({ length: worldSize }, () => Float32Array.from({ length }, () => rng.normal() * 3));
      const sum = exactSum(inputs);
      await Promise.all(rings.map((ring, rank) => ring.allReduce(inputs[rank], { average: false, fp16: true })));
      expect(rings[0].sharesMemory).toBe(length > 3001 ? true : undefined);
      for (let i = 0; i < sum.length; i++) {
        // Each of the N partial sums is rounded once to 11 significant bits: error ≤ N · 2^-11 · max|partial|.
        const bound = worldSize * 2 ** -11 * (Math.abs(sum[i]) + worldSize * 3 * 4) + 1e-6;
        expect(Math.abs(inputs[0][i] - sum[i])).toBeLessThan(bound);
        expect(roundToHalf(inputs[0][i])).toBe(inputs[0][i]);
      }
      for (const result of inputs.slice(1))
        expect(Buffer.from(result.buffer).equals(Buffer.from(inputs[0].buffer))).toBe(true);
    });

  it("broadcasts from any root and passes barriers", async () => {
    rings = await openRing(4, { chunkBytes: 4096 });
    const rng = new Rng(3);
    for (const root of [0, 2, 3]) {
      const arrays = Array.from({ length: 4 }, () => Float32Array.from({ length: 5003 }, () => rng.normal()));
      const sent = arrays[root].slice();
      await Promise.all(rings.map((ring) => ring.broadcast(arrays[ring.rank], root)));
      for (const a of arrays) expect(firstMismatch(a, sent)).toBe(-1);
      await Promise.all(rings.map((ring) => ring.barrier()));
    }
  });

  it("runs collectives started back to back without awaiting in call order", async () => {
    rings = await openRing(3, { chunkBytes: 4096 });
    const a = integerInputs(3, 5000, 21);
    const b = integerInputs(3, 333, 22);
    const sumA = exactSum(a);
    const sumB = exactSum(b);
    await Promise.all(
      rings.flatMap((ring, rank) => [
        ring.allReduce(a[rank], { average: false }),
        ring.barrier(),
        ring.allReduce(b[rank], { average: false }),
      ]),
    );
    for (let rank = 0; rank < 3; rank++) {
      expect(firstMismatch(a[rank], sumA)).toBe(-1);
      expect(firstMismatch(b[rank], sumB)).toBe(-1);
    }
  });

  it("rejects a frame of the wrong size (ranks disagree on the length) instead of reducing it", async () => {
    // The rank that sees the bad frame fails at once; its neighbour then waits in vain, hence the short timeout.
    rings = await openRing(2, { chunkBytes: 4096, timeoutMs: 1000 });
    const results = await Promise.allSettled([
      rings[0].allReduce(new Float32Array(100).fill(1), { average: false }),
      rings[1].allReduce(new Float32Array(101).fill(1), { average: false }),
    ]);
    const reasons = results.map((r) => (r.status === "rejected" ? String(r.reason) : "fulfilled"));
    expect(reasons.some((r) => /rejected a frame.*bytes, expected/.test(r))).toBe(true);
  });

  for (const [length, reason] of [
    [64, /wire type/],
    [100_000, /disagrees on fp16/],
  ] as const)
    it(`fails on every rank when ranks disagree on fp16 (${length} elements)`, async () => {
      rings = await openRing(2, { chunkBytes: 4096, timeoutMs: 5000 });
      const results = await Promise.allSettled([
        rings[0].allReduce(new Float32Array(length).fill(1), { average: false, fp16: true }),
        rings[1].allReduce(new Float32Array(length).fill(1), { average: false }),
      ]);
      expect(results.every((r) => r.status === "rejected" && reason.test(String(r.reason)))).toBe(true);
    });

  it("with CURVE keys reduces correctly and a peer without the run key gets no frame through", async () => {
    const keys = generateRunKeys();
    rings = await openRing(3, { chunkBytes: 4096, keys });
    // A rogue sender forges a frame the first collective would accept; CURVE must keep it out.
    const rogue = new zmq.Push({ linger: 0 });
    rogue.connect(rings[0].endpoint);
    const forged = new Float32Array(1000).fill(1e6);
    await rogue.send([forgedHeader(), Buffer.from(forged.buffer)]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const inputs = integerInputs(3, 3000, 5);
    const expected = exactSum(inputs);
    await Promise.all(rings.map((ring, rank) => ring.allReduce(inputs[rank], { average: false })));
    for (const result of inputs) expect(firstMismatch(result, expected)).toBe(-1);
    rogue.close();
  });

  it("with CURVE keys and the default 1 MiB chunks all-reduces several MB over the sockets exactly", async () => {
    // CURVE's box around a frame counts against the receiver's size limit: a full chunk must still get in.
    const keys = generateRunKeys();
    rings = await openRing(3, { keys, sharedMemory: false, timeoutMs: 15_000 });
    const inputs = integerInputs(3, 2_000_003, 9);
    const expected = exactSum(inputs);
    await Promise.all(rings.map((ring, rank) => ring.allReduce(inputs[rank], { average: false })));
    for (const result of inputs) expect(firstMismatch(result, expected)).toBe(-1);
  });
});
