import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateRunKeys, runKeysToEnv } from "../../src/comm/security.js";
import { root, runModule } from "./trainHelpers.js";

/**
 * The streamed ring's native data plane with its ranks in separate processes, over loopback TCP (not the
 * Unix sockets or shared memory a loopback bind would pick) with the run's CURVE keys. Every rank builds all
 * ranks' inputs from their seeds, so it checks its own result: integer-valued data must sum exactly, fp16
 * must stay within rounding; random-float results are hashed so that the test can compare ranks with each
 * other and the native ring with the JavaScript one.
 */
const dist = join(root, "dist/src");
const LENGTHS = [0, 1, 7, 1001, 1_000_003];

const rankCode = (rank: number, worldSize: number, dir: string, native: boolean) => `
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { RingAllReduce } from "${dist}/comm/ring.js";
import { runKeysFromEnv } from "${dist}/comm/security.js";
import { installNativeRingArithmetic } from "${dist}/native/ringArithmetic.js";
import { Rng } from "${dist}/random.js";
installNativeRingArithmetic();
const rank = ${rank}, n = ${worldSize}, dir = ${JSON.stringify(dir)};
// 64 KB chunks for the long arrays (several per segment, a short last one), 4000 bytes for the short ones.
const rings = await Promise.all([1 << 16, 4000].map((chunkBytes) => RingAllReduce.open({
  bind: "tcp://127.0.0.1:0", transport: "as-given", keys: runKeysFromEnv(), chunkBytes, timeoutMs: 60000,
  nativeDataPlane: ${native},
})));
for (const [k, ring] of rings.entries()) {
  writeFileSync(dir + "/tmp" + k + "-" + rank, ring.endpoint);
  renameSync(dir + "/tmp" + k + "-" + rank, dir + "/ep" + k + "-" + rank);
}
for (const [k, ring] of rings.entries()) {
  const nextFile = dir + "/ep" + k + "-" + ((rank + 1) % n);
  while (!existsSync(nextFile)) await new Promise((r) => setTimeout(r, 10));
  await ring.join({ rank, worldSize: n, next: readFileSync(nextFile, "utf8") });
}
const inputs = (seed, length, make) => Array.from({ length: n }, (_, k) => {
  const rng = new Rng(seed * 100 + k);
  return Float32Array.from({ length }, () => make(rng));
});
const hash = (a) => createHash("sha256").update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest("hex");
const report = { rank, dataPlane: rings.map((r) => r.dataPlane), inexact: 0, offHalf: 0, hashes: [] };
for (const [i, length] of ${JSON.stringify(LENGTHS)}.entries()) {
  const ring = rings[length > 10_000 ? 0 : 1];
  // Integers: exact in any order.
  const ints = inputs(i, length, (rng) => rng.int(2001) - 1000);
  for (const average of [false, true]) {
    const mine = ints[rank].slice();
    await ring.allReduce(mine, { average });
    for (let j = 0; j < length; j++) {
      let sum = 0;
      for (const x of ints) sum += x[j];
      if (mine[j] !== Math.fround(average ? sum / n : sum)) report.inexact++;
    }
  }
  // Random floats: hashed; fp16: within the rounding of the N partial sums, every value a half.
  const floats = inputs(i + 50, length, (rng) => rng.normal() * 3);
  const mine = floats[rank].slice();
  await ring.allReduce(mine, { average: true });
  report.hashes.push(hash(mine));
  const halves = floats[rank].slice();
  await ring.allReduce(halves, { average: false, fp16: true });
  for (let j = 0; j < length; j++) {
    let sum = 0, mag = 0;
    for (const x of floats) { sum += x[j]; mag += Math.abs(x[j]); }
    if (Math.abs(halves[j] - sum) > n * 2 ** -11 * (Math.abs(sum) + mag) + 1e-6 || Math.fround(halves[j]) !== halves[j]) report.offHalf++;
  }
  report.hashes.push(hash(halves));
}
console.log(JSON.stringify(report));
for (const ring of rings) ring.close();
`;

async function runRing(worldSize: number, native: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "voxring-native-test-"));
  const env = runKeysToEnv(generateRunKeys());
  try {
    const outputs = await Promise.all(
      Array.from({ length: worldSize }, (_, rank) =>
        runModule(rankCode(rank, worldSize, dir, native), { env, timeoutMs: 120_000, label: `rank ${rank}` }),
      ),
    );
    return outputs.map((o) => JSON.parse(o.trim().split("\n").at(-1) as string));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the native data plane across processes, tcp loopback with CURVE", () => {
  for (const worldSize of [2, 3, 4])
    it(`sums exactly, agrees bitwise across ranks and with the JavaScript ring (${worldSize} ranks)`, async () => {
      const native = await runRing(worldSize, true);
      const js = await runRing(worldSize, false);
      for (const [reports, plane] of [
        [native, "native"],
        [js, "js"],
      ] as const) {
        expect(reports.map((r) => [r.rank, r.dataPlane, r.inexact, r.offHalf])).toEqual(
          reports.map((_, rank) => [rank, [plane, plane], 0, 0]),
        );
        for (const r of reports) expect(r.hashes).toEqual(reports[0].hashes);
      }
      // Same frames, same float operations in the same order: the native ring is the JavaScript ring, to the bit.
      expect(native[0].hashes).toEqual(js[0].hashes);
      expect(native[0].hashes).toHaveLength(2 * LENGTHS.length);
    }, 300_000);

  // The ring threads must be gone before exit() tears down what libzmq uses (this once aborted the process).
  it("lets a process exit cleanly with rings still open, one of them mid-collective", async () => {
    const code = `
import { RingAllReduce } from "${dist}/comm/ring.js";
import { installNativeRingArithmetic } from "${dist}/native/ringArithmetic.js";
installNativeRingArithmetic();
const rings = await Promise.all([0, 1, 2].map(() => RingAllReduce.open({ bind: "tcp://127.0.0.1:0", transport: "as-given" })));
await Promise.all(rings.map((r, k) => r.join({ rank: k, worldSize: 3, next: rings[(k + 1) % 3].endpoint })));
const data = rings.map(() => new Float32Array(100_000).fill(1));
await Promise.all(rings.map((r, k) => r.allReduce(data[k], { average: false })));
rings[0].close();
rings[1].allReduce(data[1], { average: false }).catch(() => {});
console.log(rings.map((r) => r.dataPlane).join(" "), data[2][99_999]);
process.exit(0);
`;
    expect((await runModule(code, { timeoutMs: 60_000 })).trim()).toBe("native native native 3");
  }, 90_000);
});
