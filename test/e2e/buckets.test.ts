/**
 * Buckets change when gradients are all-reduced, not what is averaged: a real 2-worker run whose gradients
 * go in several buckets ends, under --deterministic, with the weights of the same run with one bucket.
 * The net (16, 32, 64: 340k parameters) in buckets of 0.5 MiB: two, both large enough to go through shared
 * memory in place; in buckets of 0.02 MiB: eleven, below that threshold, streamed through the sockets.
 */
import { describe, expect, it } from "vitest";
import { readFlat } from "../../src/model/paramLayout.js";
import { createUNet } from "../../src/model/unet.js";
import { flatParams, json, maxAbsDiff, run, tempRun } from "./trainHelpers.js";

function args(out: string, bucketMb: string): string[] {
  return [
    "--preset",
    "smoke",
    "--gpus",
    "2",
    "--channels",
    "16",
    "32",
    "64",
    "--patch",
    "16",
    "16",
    "8",
    "--epochs",
    "1",
    "--steps-per-epoch",
    "4",
    "--lr",
    "0.003",
    "--seed",
    "5",
    "--deterministic",
    "--bucket-mb",
    bucketMb,
    "--out",
    out,
    "--metrics-port",
    "0",
  ];
}

describe("--bucket-mb", () => {
  it("several buckets end with the weights of one, bit for bit, 2 workers under --deterministic", async () => {
    const weights: Float32Array[] = [];
    for (const bucketMb of ["0", "0.5", "0.02"]) {
      const out = tempRun(`buckets-${bucketMb}`);
      const result = await run(args(out, bucketMb));
      expect(result.code, result.stderr).toBe(0);
      expect((json(`${out}/config.json`) as { bucketMb: number }).bucketMb).toBe(Number(bucketMb));
      weights.push(flatParams(out, "last"));
    }
    expect(weights[0].length).toBe(340_355);
    const initial = readFlat(createUNet({ inChannels: 2, numClasses: 3, channels: [16, 32, 64] }, 5).params);
    expect(maxAbsDiff(weights[0], initial)).toBeGreaterThan(1e-3); // it did train
    expect(maxAbsDiff(weights[0], weights[1])).toBe(0);
    expect(maxAbsDiff(weights[0], weights[2])).toBe(0);
  });
});
