import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../../src/errors.js";
import { Rng } from "../../../src/random.js";
import {
  type Checkpoint,
  listCheckpoints,
  markBest,
  pruneCheckpoints,
  readCheckpoint,
  resolveCheckpoint,
  writeCheckpoint,
  writeCheckpointValidation,
} from "../../../src/train/checkpoint.js";
import { defaultConfig } from "../../../src/train/config.js";

function randomArray(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

function sample(step: number, rng = new Rng(step)): Checkpoint {
  return {
    globalStep: step,
    epoch: 2,
    stepInEpoch: 3,
    stepsPerEpoch: 7,
    params: [
      { name: "enc.0.weight", shape: [3, 3, 3, 2, 5], data: randomArray(rng, 270) },
      { name: "enc.0.bias", shape: [5], data: randomArray(rng, 5) },
    ],
    stats: [{ name: "enc.0.running_mean", shape: [5], data: randomArray(rng, 5) }],
    optimizer: { step: 17, m: randomArray(rng, 275), v: randomArray(rng, 275).map(Math.abs) },
    lossScale: { scale: 32768, goodSteps: 4 },
    skippedSteps: 1,
    rng: { seed: 5 },
    dataOrder: [
      [3, 1],
      [0, 2],
    ],
    model: { inChannels: 2, numClasses: 3, channels: [5, 10] },
    dataset: {
      labels: { "0": "background", "1": "PZ", "2": "TZ" },
      modality: { "0": "T2", "1": "ADC" },
      trainCases: ["a", "b", "c", "d"],
      valCases: ["e"],
    },
    config: { ...defaultConfig, out: "runs/x" },
    validation: null,
    bestDiceMean: null,
    restarts: 1,
    savedAt: "2026-01-01T00:00:00.000Z",
  };
}

describe("checkpoints", () => {
  it("round-trips every field bit for bit", () => {
    const run = mkdtempSync(join(tmpdir(), "voxring-ckpt-"));
    const written = sample(123);
    const path = writeCheckpoint(run, written);
    expect(path).toBe(join(run, "checkpoints", "step-00000123"));
    expect(readdirSync(join(run, "checkpoints"))).toEqual(["step-00000123"]); // no temp left behind
    const read = readCheckpoint(path);
    expect(read).toEqual(written);
    expect(Buffer.from(read.optimizer.v.buffer).equals(Buffer.from(written.optimizer.v.buffer))).toBe(true);
  });

  it("keeps the last K, links the best, and resolves best/last", () => {
    const run = mkdtempSync(join(tmpdir(), "voxring-ckpt-"));
    const paths = [10, 20, 30, 40].map((s) => writeCheckpoint(run, sample(s)));
    writeCheckpointValidation(paths[1], { diceMean: 0.7, dice: { PZ: 0.6, TZ: 0.8 } });
    markBest(run, paths[1]);
    pruneCheckpoints(run, 2);
    expect(listCheckpoints(run)).toEqual([paths[2], paths[3]]);
    expect(existsSync(paths[1])).toBe(false);
    const best = readCheckpoint(resolveCheckpoint(run, "best"));
    expect(best.globalStep).toBe(20);
    expect(best.validation).toEqual({ diceMean: 0.7, dice: { PZ: 0.6, TZ: 0.8 } });
    expect(best.params[0].data).toEqual(sample(20).params[0].data);
    expect(readCheckpoint(resolveCheckpoint(run, "last")).globalStep).toBe(40);
  });

  it("refuses what is not a complete checkpoint with an InputError naming it", () => {
    const run = mkdtempSync(join(tmpdir(), "voxring-ckpt-"));
    expect(() => resolveCheckpoint(run, "last")).toThrow(InputError);
    const path = writeCheckpoint(run, sample(5));
    writeFileSync(join(path, "tensors.bin"), Buffer.alloc(12));
    expect(() => readCheckpoint(path)).toThrow(/tensors.bin: holds 12 bytes/);
    expect(() => readCheckpoint(run)).toThrow(/not a voxring checkpoint/);
  });
});
