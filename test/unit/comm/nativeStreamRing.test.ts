import { afterEach, beforeAll, describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { roundToHalf } from "../../../src/comm/fp16.js";
import { NativeStreamRing } from "../../../src/comm/nativeStreamRing.js";
import { RingAllReduce, type RingOpenOptions, RingStallError } from "../../../src/comm/ring.js";
import { WireType } from "../../../src/comm/ringFrame.js";
import { generateRunKeys, type RunKeys } from "../../../src/comm/security.js";
import { installNativeRingArithmetic } from "../../../src/native/ringArithmetic.js";
import { Rng } from "../../../src/random.js";
import { closeAll, forgedHeader } from "./ringHelpers.js";

/**
 * The native data plane (native/src/comm/DataPlane.cc) in one process: rings of native ranks, of JavaScript
 * ranks, and of both mixed (same frames on the wire), over loopback TCP with CURVE. The separate-process
 * runs are test/e2e/comm-native.test.ts.
 */
let rings: RingAllReduce[] = [];
const sockets: zmq.Socket[] = [];
afterEach(() => {
  closeAll(rings);
  rings = [];
  for (const s of sockets.splice(0)) s.close();
});

beforeAll(() => {
  installNativeRingArithmetic();
});

/** A ring over loopback TCP; rank k gets the native data plane when native[k]. */
async function tcpRing(native: boolean[], options: RingOpenOptions = {}): Promise<RingAllReduce[]> {
  const worldSize = native.length;
  const opened = await Promise.all(
    native.map((nativeDataPlane) =>
      RingAllReduce.open({ bind: "tcp://127.0.0.1:0", transport: "as-given", nativeDataPlane, ...options }),
    ),
  );
  await Promise.all(
    opened.map((ring, rank) => ring.join({ rank, worldSize, next: opened[(rank + 1) % worldSize].endpoint })),
  );
  return opened;
}

function randomInputs(worldSize: number, length: number, seed: number, scale = 1): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: worldSize }, () => Float32Array.from({ length }, () => rng.normal() * scale));
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** A CURVE client of `endpoint` that holds the run's keys (or, without them, a plaintext peer). */
function peer(endpoint: string, keys?: RunKeys): zmq.Push {
  const push = new zmq.Push({ linger: 0 });
  if (keys) {
    const mine = zmq.curveKeyPair();
    push.curveServerKey = keys.publicKey;
    push.curvePublicKey = mine.publicKey;
    push.curveSecretKey = mine.secretKey;
  }
  push.connect(endpoint);
  sockets.push(push);
  return push;
}

describe("NativeStreamRing", () => {
  it("is installed with the comm addon, and RingAllReduce picks it unless told not to", async () => {
    expect(NativeStreamRing.available()).toBe(true);
    rings = await tcpRing([true, false]);
    expect(rings.map((r) => r.dataPlane)).toEqual(["native", "js"]);
  });

  // Same frames and the same float operations in the same order: native, JavaScript and mixed rings agree to
  // the bit, fp32 and fp16, on random floats of an odd length with chunks of 4000 bytes (a short last chunk).
  for (const fp16 of [false, true])
    it(`gives bitwise the JavaScript ring's result, mixed or not, with CURVE (fp16 ${fp16})`, async () => {
      const keys = generateRunKeys();
      const results: Buffer[][] = [];
      for (const native of [
        [false, false, false, false],
        [true, true, true, true],
        [true, false, true, false],
      ]) {
        rings = await tcpRing(native, { keys, chunkBytes: 4000 });
        const inputs = randomInputs(4, 100_003, 17, 3);
        await Promise.all(rings.map((ring, rank) => ring.allReduce(inputs[rank], { average: true, fp16 })));
        results.push(inputs.map(bytes));
        closeAll(rings);
        rings = [];
      }
      for (const run of results) for (const rank of run) expect(rank.equals(results[0][0])).toBe(true);
      if (fp16) {
        const values = new Float32Array(results[0][0].buffer, results[0][0].byteOffset, 100_003);
        expect(values.every((v) => roundToHalf(v) === v)).toBe(true);
      }
    });

  it("broadcasts from every root and passes barriers in a mixed ring", async () => {
    rings = await tcpRing([true, false, true]);
    const rng = new Rng(5);
    for (const root of [0, 1, 2]) {
      const arrays = Array.from({ length: 3 }, () => Float32Array.from({ length: 9001 }, () => rng.normal()));
      const sent = bytes(arrays[root].slice());
      await Promise.all(rings.map((ring) => ring.broadcast(arrays[ring.rank], root)));
      for (const a of arrays) expect(bytes(a).equals(sent)).toBe(true);
      await Promise.all(rings.map((ring) => ring.barrier()));
    }
  });

  // What makes buckets overlap backward: a collective called from synchronous code (a gradient hook inside
  // backward) is on the data plane's thread at once, not after the caller yields.
  it("takes a collective at the call: the ranks reduce it while the JavaScript thread is still busy", async () => {
    rings = await tcpRing([true, true], { sharedMemory: false });
    const inputs = randomInputs(2, 300_001, 41);
    const expected = Float32Array.from(inputs[0], (v, i) => v + inputs[1][i]);
    const done = rings.map((ring, rank) => ring.allReduce(inputs[rank], { average: false }));
    // Spin without yielding, as backward does; the last element of each rank is written last by its thread.
    const last = expected.length - 1;
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline && !inputs.every((a) => a[last] === expected[last] && a[0] === expected[0])) {}
    const reducedWhileBusy = inputs.map((a) => bytes(a).equals(bytes(expected)));
    await Promise.all(done);
    expect(reducedWhileBusy).toEqual([true, true]);
  });

  // Native ranks hand collectives over at the call, the JavaScript rank runs them one after the other: back to
  // back and unawaited, of every kind, they still pair up in call order on every rank.
  it("pairs up unawaited collectives in call order in a mixed ring, after shared memory is ruled out", async () => {
    rings = await tcpRing([true, false, true]);
    const warm = randomInputs(3, 1 << 17, 50); // a large all-reduce: rules shared memory out (TCP endpoints)
    await Promise.all(rings.map((ring, rank) => ring.allReduce(warm[rank], { average: false })));
    expect(rings.map((r) => r.sharesMemory)).toEqual([false, false, false]);
    const a = randomInputs(3, 70_001, 51);
    const b = randomInputs(3, 333, 52);
    const c = randomInputs(3, 5_000, 53);
    const sumOf = (inputs: Float32Array[]) => Float64Array.from(inputs[0], (v, i) => v + inputs[1][i] + inputs[2][i]);
    const [sumA, sumB] = [sumOf(a), sumOf(b)];
    const fromRank1 = bytes(c[1].slice());
    await Promise.all(
      rings.flatMap((ring, rank) => [
        ring.allReduce(a[rank], { average: false }),
        ring.barrier(),
        ring.broadcast(c[rank], 1),
        ring.allReduce(b[rank], { average: false }),
      ]),
    );
    for (let rank = 0; rank < 3; rank++) {
      expect(bytes(c[rank]).equals(fromRank1)).toBe(true);
      // Every rank holds the ring's sum to the bit; against the float64 sum, within float32 rounding.
      expect(bytes(a[rank]).equals(bytes(a[0]))).toBe(true);
      expect(bytes(b[rank]).equals(bytes(b[0]))).toBe(true);
      expect(a[rank].every((v, i) => Math.abs(v - sumA[i]) < 1e-5)).toBe(true);
      expect(b[rank].every((v, i) => Math.abs(v - sumB[i]) < 1e-5)).toBe(true);
    }
  });

  it("fails a collective with the rank and the timeout when the previous rank sends nothing", async () => {
    rings = await tcpRing([true, true], { timeoutMs: 300 });
    // A stall, reported as the JavaScript ring reports one (the watchdog reads whom it waited for).
    const stalled = rings[0].allReduce(new Float32Array(10), { average: false });
    await expect(stalled).rejects.toBeInstanceOf(RingStallError);
    await expect(stalled).rejects.toMatchObject({ waitingFor: 1, seconds: 0.3 });
    await expect(stalled).rejects.toThrow(
      "ring: no frame from rank 1 for 0.3 s in all-reduce #0 on the native data plane",
    );
    // The ring is broken from then on: every later collective fails with the same error.
    await expect(rings[0].allReduce(new Float32Array(10), { average: false })).rejects.toThrow(/for 0.3 s/);
  });

  it("lets no frame of a peer without the run key through", async () => {
    const keys = generateRunKeys();
    rings = await tcpRing([true, true], { keys, timeoutMs: 5000 });
    // Plaintext, and CURVE with a made-up server key: both forge a frame the first collective would accept.
    const wrong = generateRunKeys();
    // Whether ZeroMQ queues the forgery or (its handshake refused) holds it back, nothing may reach the ring.
    for (const rogue of [peer(rings[0].endpoint), peer(rings[0].endpoint, wrong)]) {
      rogue.sendTimeout = 1000;
      await rogue.send([forgedHeader(), Buffer.from(new Float32Array(1000).fill(1e6).buffer)]).catch(() => {});
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const inputs = [new Float32Array(2000).fill(1), new Float32Array(2000).fill(2)];
    await Promise.all(rings.map((ring, rank) => ring.allReduce(inputs[rank], { average: false })));
    for (const result of inputs) expect(result.every((v) => v === 3)).toBe(true);
  });

  // Not ring frames at all: foreign, so dropped and counted on both data planes, and the collective goes on.
  for (const [what, frames, line] of [
    ["a short header", [Buffer.alloc(10), Buffer.alloc(4000)], "header of 10 bytes, expected 24"],
    ["a bad magic", [Buffer.alloc(24), Buffer.alloc(4000)], "bad magic"],
    ["three frames", [forgedHeader(), Buffer.alloc(4000), Buffer.alloc(8)], "a message of 3 frames"],
    ["one frame", [forgedHeader()], "a message of 1 frames"],
  ] as const)
    it(`drops a non-ring message from a CURVE peer holding the run keys (${what}) on both data planes`, async () => {
      const keys = generateRunKeys();
      for (const native of [true, false]) {
        const lines: string[] = [];
        rings = await tcpRing([native, native], { keys, timeoutMs: 5000, log: (l) => lines.push(l) });
        const forger = peer(rings[0].endpoint, keys);
        for (let i = 0; i < 8; i++) await forger.send([...frames]);
        const inputs = [new Float32Array(1000).fill(1), new Float32Array(1000).fill(2)];
        // Rank 0 waits alone in its collective first, so it reads the forgeries before any ring frame (its
        // socket queues peers fairly: interleaved with ring frames, some would outlast the collective).
        const first = rings[0].allReduce(inputs[0], { average: false });
        await new Promise((resolve) => setTimeout(resolve, 500));
        await Promise.all([first, rings[1].allReduce(inputs[1], { average: false })]);
        for (const result of inputs) expect(result.every((v) => v === 3)).toBe(true);
        // Eight dropped, five of them told (a flood does not flood the log).
        expect(rings[0].stats.droppedFrames).toBe(8);
        expect(lines).toEqual(Array(5).fill(`ring: dropped a foreign frame (${line}; this ring is generation 0)`));
        closeAll(rings);
        rings = [];
      }
    });

  // Ring frames of this generation that disagree with this rank's collective: a rank out of step, fatal.
  for (const [what, frames, reason] of [
    ["a wrong size", [forgedHeader({ bytes: 4 }), Buffer.alloc(4)], /chunk 0 has 4 bytes, expected 4000/],
    ["a chunk out of range", [forgedHeader({ chunk: 7 }), Buffer.alloc(4000)], /chunk 7 of 1/],
    ["a step out of range", [forgedHeader({ step: 9 }), Buffer.alloc(4000)], /step 9 of 2/],
    ["another collective", [forgedHeader({ op: 5 }), Buffer.alloc(4000)], /collective #5, expected #0/],
    ["fp16 against fp32", [forgedHeader({ wire: WireType.f16 }), Buffer.alloc(2000)], /wire type 2, expected 1/],
  ] as const)
    it(`rejects a malformed frame from a CURVE peer holding the run keys (${what}) with a clear error`, async () => {
      const keys = generateRunKeys();
      rings = await tcpRing([true, true], { keys, timeoutMs: 5000 });
      const forger = peer(rings[0].endpoint, keys);
      await forger.send([...frames]);
      await expect(rings[0].allReduce(new Float32Array(2000), { average: false })).rejects.toThrow(reason);
    });

  it("drops frames of another generation with a log line and reduces this generation's", async () => {
    const lines: string[] = [];
    const keys = generateRunKeys();
    rings = await tcpRing([true, true], { keys, generation: 3, log: (line) => lines.push(line) });
    const stale = peer(rings[0].endpoint, keys);
    await stale.send([forgedHeader({ generation: 2 }), Buffer.alloc(4000)]);
    const inputs = [new Float32Array(2000).fill(1), new Float32Array(2000).fill(2)];
    const first = rings[0].allReduce(inputs[0], { average: false }); // reads the stale frame before any other
    await new Promise((resolve) => setTimeout(resolve, 500));
    await Promise.all([first, rings[1].allReduce(inputs[1], { average: false })]);
    for (const result of inputs) expect(result.every((v) => v === 3)).toBe(true);
    expect(lines).toEqual(["ring: dropped a foreign frame (generation 2; this ring is generation 3)"]);
  });

  it("fails a collective under way when the ring closes, and counts the bytes of those that ran", async () => {
    rings = await tcpRing([true, true], { timeoutMs: 60_000 });
    const inputs = [new Float32Array(5000).fill(1), new Float32Array(5000).fill(2)];
    await Promise.all(rings.map((ring, rank) => ring.allReduce(inputs[rank], { average: false })));
    // Each rank sends and receives half the array twice (reduce-scatter, all-gather).
    expect(rings[0].stats).toEqual({ bytesSent: 20_000, bytesReceived: 20_000, droppedFrames: 0 });
    const pending = rings[0].allReduce(new Float32Array(10), { average: false });
    rings[0].close();
    await expect(pending).rejects.toThrow("ring: closed");
  });
});
