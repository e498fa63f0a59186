/**
 * What a checkpoint's files may hold, checked before any of it is used: a damaged header must be refused with
 * its file named, never handed to the workers (a globalStep of -5 or "100" made them refuse the start message
 * and the coordinator wait forever) or to the optimizer (NaN weights trained on).
 *
 * Formats: voxring-checkpoint/2 carries the SHA-256 of tensors.bin; /1 (before checksums) is still read, with
 * a warning that its bytes cannot be verified, every other check applied.
 */
import { z } from "zod";
import { trainSettingsSchema } from "./config.js";

export const CHECKPOINT_FORMAT = "voxring-checkpoint/2";
export const UNCHECKED_CHECKPOINT_FORMAT = "voxring-checkpoint/1";

/** checkpoint.json larger than this is not one of ours (it lists tensors and case names, a few MB at most). */
export const MAX_HEADER_BYTES = 64 * 1024 * 1024;

const count = z.number().int().nonnegative();
const positive = z.number().int().positive();
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "not a SHA-256 hex digest");

export const tensorEntrySchema = z.strictObject({
  group: z.enum(["params", "stats", "adam_m", "adam_v"]),
  name: z.string().min(1),
  shape: z.array(count).max(8),
  offset: count,
  length: count,
});
export type TensorEntry = z.infer<typeof tensorEntrySchema>;

export const validationSchema = z.strictObject({
  diceMean: z.number().min(0).max(1),
  dice: z.record(z.string(), z.number().min(0).max(1)),
});

export const headerSchema = z
  .strictObject({
    format: z.enum([CHECKPOINT_FORMAT, UNCHECKED_CHECKPOINT_FORMAT]),
    globalStep: count,
    epoch: count,
    stepInEpoch: count,
    stepsPerEpoch: positive,
    lossScale: z.strictObject({ scale: z.number().positive().finite(), goodSteps: count }).nullable(),
    skippedSteps: count,
    rng: z.strictObject({ seed: count }),
    dataOrder: z.array(z.array(count)),
    model: z.strictObject({
      inChannels: positive,
      numClasses: z.number().int().min(2),
      channels: z.array(positive).min(2),
    }),
    dataset: z.strictObject({
      labels: z.record(z.string(), z.string()),
      modality: z.record(z.string(), z.string()),
      trainCases: z.array(z.string()),
      valCases: z.array(z.string()),
    }),
    config: trainSettingsSchema,
    validation: validationSchema.nullable(),
    bestDiceMean: z.number().min(0).max(1).nullable(),
    restarts: count,
    savedAt: z.string(),
    optimizerStep: count,
    tensors: z.array(tensorEntrySchema).min(3),
    checksums: z.strictObject({ "tensors.bin": sha256 }).optional(),
  })
  .superRefine((h, ctx) => {
    const problem = (message: string, path: (string | number)[]) => ctx.addIssue({ code: "custom", message, path });
    if (h.stepInEpoch > h.stepsPerEpoch) problem(`exceeds stepsPerEpoch ${h.stepsPerEpoch}`, ["stepInEpoch"]);
    if (h.format === CHECKPOINT_FORMAT && !h.checksums) problem(`required by ${CHECKPOINT_FORMAT}`, ["checksums"]);
    // The tensors lie back to back in tensors.bin, each as long as its shape says.
    let end = 0;
    h.tensors.forEach((t, i) => {
      const elements = t.shape.reduce((n, d) => n * d, 1);
      if (elements !== t.length)
        problem(`shape [${t.shape}] holds ${elements} elements, length says ${t.length}`, ["tensors", i]);
      if (t.offset !== end) problem(`offset ${t.offset}, expected ${end} (tensors are back to back)`, ["tensors", i]);
      end = t.offset + t.length;
    });
    const groups = (g: TensorEntry["group"]) => h.tensors.filter((t) => t.group === g);
    const paramsLength = groups("params").reduce((n, t) => n + t.length, 0);
    if (groups("params").length === 0) problem("no params tensor", ["tensors"]);
    for (const g of ["adam_m", "adam_v"] as const) {
      const [first, ...more] = groups(g);
      if (!first || more.length > 0) problem(`expected exactly one ${g} tensor`, ["tensors"]);
      else if (first.length !== paramsLength)
        problem(`${g} holds ${first.length}, the params ${paramsLength}`, ["tensors"]);
    }
  });
export type CheckpointHeader = z.infer<typeof headerSchema>;

/** The first problem of a failed parse, as `field.path: what` (one line, naming the field). */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue.path.length > 0 ? issue.path.join(".") : "the header";
  return `${where}: ${issue.message}`;
}
