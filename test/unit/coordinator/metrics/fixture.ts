import type { VoxringMetrics } from "../../../../src/coordinator/metrics.js";
import type { Rng } from "../../../../src/random.js";

// Figures in the range of the bench U-Net on the CPU path (BENCHMARK.md): 5.6 M float32 parameters,
// batch 2 of 96×96×32 patches, a few seconds a step.
const gradientBytes = 5_648_323 * 4;
const voxelsPerStep = 2 * 96 * 96 * 32;

export interface RealisticRun {
  ranks: number;
  steps: number;
  rng: Rng;
  /** Steps per epoch; validation runs at the end of each epoch. */
  stepsPerEpoch?: number;
  /** Offset of the first global step, so a driver can keep recording in rounds. */
  firstStep?: number;
}

/**
 * Records what a short training run reports: per-rank step figures with noise, a loss that falls, an
 * overflow (skipped step, halved loss scale) every so often, validation at each epoch end.
 */
export function recordRealisticRun(metrics: VoxringMetrics, run: RealisticRun): void {
  const { ranks, steps, rng } = run;
  const stepsPerEpoch = run.stepsPerEpoch ?? 3;
  const first = run.firstStep ?? 1;
  metrics.setWorkersUp(ranks);
  let lossScale = 2 ** 15;
  let best = 0;
  for (let globalStep = first; globalStep < first + steps; globalStep++) {
    const skipped = globalStep % 4 === 2;
    if (skipped) lossScale /= 2;
    const epoch = Math.floor((globalStep - 1) / stepsPerEpoch);
    const meanLoss = 0.2 + 0.7 * Math.exp(-globalStep / 40);
    for (let rank = 0; rank < ranks; rank++) {
      const stepSeconds = 3.5 + 1.5 * rng.next();
      metrics.recordStep({
        rank,
        loss: meanLoss + 0.05 * (rng.next() - 0.5),
        stepSeconds,
        allreduceSeconds: 0.05 + 0.25 * rng.next(),
        allreduceBytes: Math.round((gradientBytes * 2 * (ranks - 1)) / ranks),
        voxelsPerSecond: voxelsPerStep / stepSeconds,
        lossScale,
        skipped,
        epoch,
        globalStep,
        residentMemoryBytes: Math.round(1.5e9 + 2e8 * rng.next()),
        cpuSeconds: globalStep * stepSeconds * (1.6 + 0.3 * rng.next()),
      });
    }
    if (globalStep % stepsPerEpoch === 0 || globalStep === first + steps - 1) {
      const progress = 1 - Math.exp(-globalStep / 30);
      const dice = { background: 0.97 + 0.02 * progress, PZ: 0.3 + 0.4 * progress, TZ: 0.4 + 0.45 * progress };
      const mean = (dice.PZ + dice.TZ) / 2;
      best = Math.max(best, mean);
      metrics.recordValidation({ dice, mean, best });
    }
  }
}

/** Names of the samples in a text exposition (histograms give their _bucket, _sum and _count). */
export function exposedSamples(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (match) names.add(match[1]);
  }
  return names;
}
