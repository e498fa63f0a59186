/**
 * Validation on the coordinator: the weights rank 0 sent (batch-norm statistics already averaged over the
 * ranks) go into the coordinator's own U-Net, which segments each whole validation volume by sliding-window
 * inference; hard Dice per foreground class and their mean come out. The training ranks never wait for it.
 */
import * as tf from "@tensorflow/tfjs";
import { keepLargestComponent } from "../data/largestComponent.js";
import { argmaxLabels, slidingWindowInference } from "../data/slidingWindow.js";
import { softmaxLastAxis } from "../inference/predictForward.js";
import { diceScores } from "../model/dice.js";
import { writeFlat } from "../model/paramLayout.js";
import { createUNet, spatialDivisor, type UNet } from "../model/unet.js";
import type { PreviewCase } from "../viz/preview.js";

export interface ValidationCase {
  name: string;
  /** Preprocessed (1 mm, z-scored) channels-last image and its label map on the same grid. */
  image: Float32Array;
  labels: Uint8Array;
  shape: [number, number, number];
  channels: number;
}

export interface ValidationResult {
  /** Dice per foreground class name. */
  dice: Record<string, number>;
  mean: number;
  perCase: { name: string; dice: number[] }[];
  preview: PreviewCase[];
  seconds: number;
}

export interface ValidatorOptions {
  inChannels: number;
  numClasses: number;
  channels: number[];
  labelNames: string[];
  window: [number, number, number];
  overlap: number;
  seed: number;
}

/**
 * Runs validations one at a time. A snapshot that arrives while the previous validation still runs waits;
 * a newer one replaces it (the ranks outpaced validation: the newest weights are the ones worth a look),
 * so the queue never grows. cancel() drops what waits and interrupts what runs.
 */
export class ValidationRunner<J> {
  private pending: J | null = null;
  private running: Promise<void> | null = null;
  private readonly abort = new AbortController();
  /** The first error of a job, rethrown by drain(): never an unhandled rejection meanwhile. */
  private failure: unknown = null;

  constructor(
    private readonly work: (job: J, signal: AbortSignal) => Promise<void>,
    private readonly onSkip: (job: J) => void,
  ) {}

  submit(job: J): void {
    if (this.abort.signal.aborted) return;
    if (this.pending) this.onSkip(this.pending);
    this.pending = job;
    this.running ??= this.pump().catch((error) => {
      this.failure ??= error;
    });
  }

  private async pump(): Promise<void> {
    try {
      while (this.pending && !this.abort.signal.aborted) {
        const job = this.pending;
        this.pending = null;
        try {
          await this.work(job, this.abort.signal);
        } catch (error) {
          if (!this.abort.signal.aborted) throw error;
        }
      }
    } finally {
      this.running = null;
    }
  }

  /** Resolves once nothing runs or waits. */
  async drain(): Promise<void> {
    while (this.running) await this.running;
    if (this.failure !== null) throw this.failure;
  }

  cancel(): void {
    this.pending = null;
    this.abort.abort();
  }
}

export class Validator {
  private unet: UNet | null = null;

  constructor(
    private readonly options: ValidatorOptions,
    private readonly cases: ValidationCase[],
  ) {}

  private model(): UNet {
    this.unet ??= createUNet(
      { inChannels: this.options.inChannels, numClasses: this.options.numClasses, channels: this.options.channels },
      this.options.seed,
    );
    return this.unet;
  }

  /** Validates these weights; `signal` interrupts between two windows (a stopping run does not wait). */
  async validate(params: Float32Array, stats: Float32Array, signal?: AbortSignal): Promise<ValidationResult> {
    const t0 = performance.now();
    const { numClasses, labelNames } = this.options;
    const unet = this.model();
    writeFlat(unet.params, params);
    writeFlat(unet.stats, stats);

    const totals = new Array<number>(numClasses).fill(0);
    const perCase: ValidationResult["perCase"] = [];
    const preview: PreviewCase[] = [];
    for (const c of this.cases) {
      const probs = await slidingWindowInference(c.image, c.shape, c.channels, {
        window: this.options.window,
        overlap: this.options.overlap,
        numClasses,
        multipleOf: spatialDivisor(unet.config),
        predict: async (patches, [X, Y, Z], count) => {
          // Let the coordinator's event loop breathe between windows: worker messages and heartbeats keep
          // flowing while a long validation runs.
          await new Promise((resolve) => setImmediate(resolve));
          signal?.throwIfAborted();
          // Not inside tf.tidy: apply frees its intermediates as it goes, which lets the native kernels
          // reuse memory (a tidy around the whole net ran 5-8× slower); tfjs's softmax runs in JavaScript.
          const x = tf.tensor5d(patches, [count, Z, Y, X, c.channels]);
          const logits = unet.apply(x, false);
          const values = logits.dataSync() as Float32Array;
          tf.dispose([x, logits]);
          softmaxLastAxis(values, numClasses);
          return values;
        },
      });
      // Blobs away from the gland are false positives; exported bundles apply the same cleanup at predict.
      const pred = keepLargestComponent(argmaxLabels(probs, numClasses), c.shape);
      const dice = diceScores(pred, c.labels, numClasses);
      perCase.push({ name: c.name, dice });
      dice.forEach((d, k) => {
        totals[k] += d;
      });
      const foreground = dice.slice(1);
      preview.push({
        name: c.name,
        image: c.image,
        channels: c.channels,
        shape: c.shape,
        truth: c.labels,
        pred,
        dice: foreground.reduce((a, b) => a + b, 0) / foreground.length,
      });
    }
    const dice: Record<string, number> = {};
    for (let k = 1; k < numClasses; k++) dice[labelNames[k]] = totals[k] / this.cases.length;
    const values = Object.values(dice);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    return { dice, mean, perCase, preview, seconds: (performance.now() - t0) / 1000 };
  }

  dispose(): void {
    this.unet?.dispose();
    this.unet = null;
  }
}
