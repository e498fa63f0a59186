/**
 * Data parallelism changes nothing but speed: 2 workers averaging gradients over the ring end with the
 * weights of one process that computes both ranks' gradients on the same batches, averages them and
 * takes the same Adam steps.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeRunData } from "../../src/coordinator/runData.js";
import { loadDecathlon } from "../../src/data/decathlon.js";
import { readFlat } from "../../src/model/paramLayout.js";
import { createUNet } from "../../src/model/unet.js";
import { initBackend } from "../../src/native/backend.js";
import type { RunSpec } from "../../src/protocol/messages.js";
import { Rng } from "../../src/random.js";
import type { TrainConfig } from "../../src/train/config.js";
import { stepSeed } from "../../src/train/runContext.js";
import { openTrainData } from "../../src/train/trainData.js";
import { type BatchShape, createTrainer } from "../../src/train/trainer.js";
import { type StepCollectives, trainStep } from "../../src/train/trainStep.js";
import { cacheDir, flatParams, json, maxAbsDiff, run, tempRun } from "./trainHelpers.js";

describe("2 workers = 1 worker accumulating their gradients", () => {
  it("ends with the same weights after several steps", async () => {
    const out = tempRun("equiv");
    const result = await run([
      "--preset",
      "smoke",
      "--gpus",
      "2",
      "--epochs",
      "2",
      "--steps-per-epoch",
      "3",
      "--lr",
      "0.003",
      "--seed",
      "4",
      "--deterministic",
      "--out",
      out,
      "--metrics-port",
      "0",
    ]);
    expect(result.code).toBe(0);
    const distributed = flatParams(out, "last");

    // The same run, one process, gradients of both ranks averaged by hand.
    const config = json(join(out, "config.json")) as TrainConfig;
    const dataset = await loadDecathlon(join(cacheDir, `synth-${config.seed}-${config.synthCases}`));
    const data = describeRunData(dataset, config);
    const spec: RunSpec = {
      config,
      dataDir: dataset.dir,
      trainCases: data.trainIndices,
      inChannels: data.inChannels,
      numClasses: data.numClasses,
      stepsPerEpoch: data.stepsPerEpoch,
    };
    await initBackend({ backend: "cpu", threads: 1 });
    const worldSize = 2;
    // Both ranks in this process, each with its own net from the same seed; their trainStep all-reduces
    // meet in memory (the mean in rank order) instead of on the ring.
    const ranks = Array.from({ length: worldSize }, () => {
      const unet = createUNet({ inChannels: 2, numClasses: 3, channels: config.channels }, config.seed);
      return { unet, trainer: createTrainer(unet, { lr: config.lr, amp: false }) };
    });
    const collectives = inMemoryCollectives(worldSize);
    const train = await openTrainData(spec);
    const [X, Y, Z] = config.patch;
    const shape: BatchShape = [config.batch, Z, Y, X, 2];
    let globalStep = 0;
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      for (let step = 0; step < data.stepsPerEpoch; step++) {
        const batches = await Promise.all(
          ranks.map((_, rank) =>
            train.batch(
              train.stepCases(epoch, rank, worldSize, step),
              new Rng(stepSeed(config.seed, rank, globalStep)),
            ),
          ),
        );
        const options = { lr: config.lr, fp16Wire: false, stopRequested: false, bucketMb: config.bucketMb };
        await Promise.all(
          ranks.map((r, rank) => trainStep(r.trainer, { ...batches[rank], shape }, collectives[rank], options)),
        );
        globalStep++;
      }
    }
    expect(globalStep).toBe(6);
    const single = readFlat(ranks[0].unet.params);
    expect(Array.from(readFlat(ranks[1].unet.params))).toEqual(Array.from(single));
    expect(maxAbsDiff(single, createUNetParams(config))).toBeGreaterThan(1e-3); // the weights did move
    expect(maxAbsDiff(single, distributed)).toBeLessThanOrEqual(1e-5);
  });
});

/** All-reduce by averaging in memory: every rank's call waits for the others', then all get the mean. */
function inMemoryCollectives(worldSize: number): StepCollectives[] {
  let arrived: { data: Float32Array; done: () => void }[] = [];
  return Array.from({ length: worldSize }, () => ({
    buffer: (length: number) => new Float32Array(length),
    allReduce: (data: Float32Array) =>
      new Promise<void>((done) => {
        arrived.push({ data, done });
        if (arrived.length < worldSize) return;
        const mean = new Float32Array(data.length);
        for (const a of arrived) for (let i = 0; i < mean.length; i++) mean[i] += a.data[i];
        for (let i = 0; i < mean.length; i++) mean[i] /= worldSize;
        for (const a of arrived) {
          a.data.set(mean);
          a.done();
        }
        arrived = [];
      }),
  }));
}

function createUNetParams(config: TrainConfig): Float32Array {
  return readFlat(createUNet({ inChannels: 2, numClasses: 3, channels: config.channels }, config.seed).params);
}
