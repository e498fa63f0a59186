/**
 * Checkpoints written in their own thread (the built dist/ module, as the coordinator runs it): what
 * readCheckpoint reads back is what was handed over, the coordinator's thread keeps running its timers while
 * 68 MB are hashed and fsynced, and a write that fails says where and leaves the thread working.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CheckpointThread } from "../../../src/coordinator/checkpointThread.js";
import { EnvironmentError } from "../../../src/errors.js";
import { paramLayout, splitFlat } from "../../../src/model/paramLayout.js";
import { Rng } from "../../../src/random.js";
import { type Checkpoint, readCheckpoint } from "../../../src/train/checkpoint.js";
import { defaultConfig } from "../../../src/train/config.js";

const channels = [16, 32, 64, 128, 256];
const writer = CheckpointThread.start();
afterAll(() => writer.close());

/** A checkpoint of the default model (5.6 M parameters, Adam's moments: about 68 MB). */
function defaultModelCheckpoint(step: number): Checkpoint {
  const layout = paramLayout({ inChannels: 2, numClasses: 3, channels });
  const rng = new Rng(step);
  const random = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.05);
  return {
    globalStep: step,
    epoch: 1,
    stepInEpoch: 4,
    stepsPerEpoch: 9,
    params: splitFlat(layout.params, random(layout.paramsLength)),
    stats: splitFlat(layout.stats, random(layout.statsLength).map(Math.abs)),
    optimizer: { step, m: random(layout.paramsLength), v: random(layout.paramsLength).map(Math.abs) },
    lossScale: null,
    skippedSteps: 0,
    rng: { seed: 3 },
    dataOrder: [[0, 1]],
    model: { inChannels: 2, numClasses: 3, channels },
    dataset: {
      labels: { "0": "background", "1": "PZ", "2": "TZ" },
      modality: { "0": "T2", "1": "ADC" },
      trainCases: ["a", "b"],
      valCases: ["c"],
    },
    config: { ...defaultConfig, out: "runs/x" },
    validation: null,
    bestDiceMean: null,
    restarts: 0,
    savedAt: "2026-12-02T00:00:00.000Z",
  };
}

/** Bit for bit (toEqual walks millions of elements one matcher call at a time). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe("CheckpointThread", () => {
  it("writes what it was handed, while this thread's timers keep running", async () => {
    const run = mkdtempSync(join(tmpdir(), "voxring-ckptthread-"));
    const written = defaultModelCheckpoint(40);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const path = await writer.write(run, written);
    clearInterval(timer);
    // Written on this thread, the write would have held every timer until it returned.
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(path).toBe(join(run, "checkpoints", "step-00000040"));
    const read = readCheckpoint(path);
    expect(read.globalStep).toBe(40);
    expect(read.params.map((p) => p.name)).toEqual(written.params.map((p) => p.name));
    for (const [i, p] of read.params.entries()) expect(sameBits(p.data, written.params[i].data)).toBe(true);
    expect(sameBits(read.optimizer.m, written.optimizer.m)).toBe(true);
    expect(sameBits(read.optimizer.v, written.optimizer.v)).toBe(true);
  });

  it("a write that fails rejects naming where, and the next one is written", async () => {
    const blocked = mkdtempSync(join(tmpdir(), "voxring-ckptthread-"));
    writeFileSync(join(blocked, "checkpoints"), "a file where the directory goes");
    const failed = writer.write(blocked, defaultModelCheckpoint(1));
    await expect(failed).rejects.toThrow(/checkpoints/);
    await expect(failed).rejects.not.toBeInstanceOf(EnvironmentError); // not a full disk: a bug's error
    const run = mkdtempSync(join(tmpdir(), "voxring-ckptthread-"));
    expect(readCheckpoint(await writer.write(run, defaultModelCheckpoint(2))).globalStep).toBe(2);
  });
});
