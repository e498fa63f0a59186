import { inputError } from "../errors.js";
import type { Rng } from "../random.js";
import type { PreprocessedCase } from "./preprocess.js";
import { type AugmentOptions, trainingTransforms } from "./transforms/index.js";
import type { Shape3 } from "./volume.js";

/** B patches ready for the trainer: images [B, Z, Y, X, C] and labels [B, Z, Y, X], both channels-last. */
export interface Batch {
  images: Float32Array;
  labels: Int32Array;
  batchSize: number;
  /** X Y Z */
  patch: Shape3;
  channels: number;
}

/**
 * Draws training batches: patch b comes from cases[b mod cases.length] through the training transform
 * chain, which is reseeded from the caller's Rng for every patch, so a batch depends only on the cases and
 * that generator's state (a resumed run that restores the state draws the same batches).
 */
export class BatchSampler {
  readonly patch: Shape3;
  private readonly chain;

  constructor(readonly options: AugmentOptions = {}) {
    this.patch = [...(options.patch ?? [96, 96, 32])];
    this.chain = trainingTransforms({ ...options, patch: this.patch });
  }

  sample(cases: readonly PreprocessedCase[], batchSize: number, rng: Rng): Batch {
    if (cases.length === 0) throw inputError("batch", "no cases to sample from");
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw inputError("--batch", `must be a positive integer, got ${batchSize}`);
    const channels = cases[0].channels;
    const [X, Y, Z] = this.patch;
    const voxels = X * Y * Z;
    const images = new Float32Array(batchSize * voxels * channels);
    const labels = new Int32Array(batchSize * voxels);
    for (let b = 0; b < batchSize; b++) {
      const c = cases[b % cases.length];
      if (c.channels !== channels) throw inputError(c.id, `has ${c.channels} channels, the batch ${channels}`);
      this.chain.setRandomState(rng.nextUint32());
      const out = this.chain.apply({
        image: { data: c.data, shape: c.shape, channels, spacing: c.spacing, affine: c.affine },
        label: { data: c.labels, shape: c.shape, channels: 1, spacing: c.spacing, affine: c.affine },
      });
      images.set(out.image.data, b * voxels * channels);
      labels.set(out.label.data, b * voxels);
    }
    return { images, labels, batchSize, patch: this.patch, channels };
  }
}
