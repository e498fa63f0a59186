import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { root, runModule } from "./trainHelpers.js";

/**
 * Ranks in separate processes on this host: the ring finds that out and all-reduces through shared memory.
 * Back-to-back collectives with different data each time, so a rank that read a region before its owner
 * filled it, or after the owner refilled it for the next collective, produces a wrong sum.
 */
const ring = join(root, "dist/src/comm/ring.js");
const arithmetic = join(root, "dist/src/native/ringArithmetic.js");
const WORLD = 4;
const ROUNDS = 12;

const rankCode = (rank: number, dir: string) => `
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { RingAllReduce } from "${ring}";
import { installNativeRingArithmetic } from "${arithmetic}";
installNativeRingArithmetic();
const rank = ${rank}, n = ${WORLD}, dir = ${JSON.stringify(dir)};
const ring = await RingAllReduce.open({ timeoutMs: 60000 });
writeFileSync(dir + "/tmp" + rank, ring.endpoint);
renameSync(dir + "/tmp" + rank, dir + "/ep" + rank);
const nextFile = dir + "/ep" + ((rank + 1) % n);
while (!existsSync(nextFile)) await new Promise((r) => setTimeout(r, 10));
await ring.join({ rank, worldSize: n, next: readFileSync(nextFile, "utf8") });
// All inputs made up front, so that a fast rank starts refilling its region for the next collective at once.
// Lengths change now and then: shorter runs reuse the regions' prefixes, a longer one remaps them. Every third
// round fills the ring's own buffer (this rank's region) instead of passing an array: no copy in or out.
const lengths = Array.from({ length: ${ROUNDS} }, (_, round) =>
  round % 5 === 4 ? 70_001 : round >= 8 ? 1_300_003 : 1_000_001,
);
const value = (round, i) => ((i * 7 + round * 13) % 1000);
const inputs = lengths.map((length, round) => Float32Array.from({ length }, (_, i) => value(round, i) * (rank + 1)));
let bad = 0;
let inPlace = 0;
for (let round = 0; round < ${ROUNDS}; round++) {
  if (rank === 0 && round % 3 === 1) await new Promise((r) => setTimeout(r, 5));
  if (round % 3 === 2) {
    const buffer = ring.buffer(lengths[round]);
    if (ring.sharesMemory && buffer.buffer.byteLength > lengths[round] * 4) inPlace++;
    buffer.set(inputs[round]);
    await ring.allReduce(buffer, { average: false });
    inputs[round].set(buffer); // the buffer's contents last until the next collective
  } else {
    await ring.allReduce(inputs[round], { average: false });
  }
}
inputs.forEach((data, round) => {
  for (let i = 0; i < data.length; i++) if (data[i] !== value(round, i) * ${(WORLD * (WORLD + 1)) / 2}) bad++;
});
console.log(JSON.stringify({ rank, shared: ring.sharesMemory, inPlace, bad }));
ring.close();
`;

describe("ring all-reduce across processes on one host", () => {
  it("goes through shared memory, sums exactly round after round (also in the ring's own buffer), and leaves nothing in /dev/shm", async () => {
    const dir = mkdtempSync(join(tmpdir(), "voxring-shm-test-"));
    const before = new Set(readdirSync("/dev/shm"));
    try {
      const outputs = await Promise.all(
        Array.from({ length: WORLD }, (_, rank) =>
          runModule(rankCode(rank, dir), { timeoutMs: 90_000, label: `rank ${rank}` }),
        ),
      );
      const results = outputs.map((o) => JSON.parse(o.trim().split("\n").at(-1) as string));
      // Rounds 2, 5, 8 and 11 fill the ring's buffer: a view of the shared region in 2, 5 and 11; round 8 asks
      // for more than the regions hold, so it gets a plain array (and its all-reduce grows the regions).
      expect(results).toEqual(Array.from({ length: WORLD }, (_, rank) => ({ rank, shared: true, inPlace: 3, bad: 0 })));
      expect(readdirSync("/dev/shm").filter((f) => f.startsWith("voxring-ring-") && !before.has(f))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
