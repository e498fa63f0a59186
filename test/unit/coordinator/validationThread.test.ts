/**
 * Validation in its own thread (the built dist/ module, as the coordinator runs it) gives what the same
 * Validator gives on this thread, and a cancel interrupts it.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ValidationCase, Validator, type ValidatorOptions } from "../../../src/coordinator/validation.js";
import { ValidationThread } from "../../../src/coordinator/validationThread.js";
import { paramLayout } from "../../../src/model/paramLayout.js";
import { initBackend } from "../../../src/native/backend.js";
import { Rng } from "../../../src/random.js";

const options: ValidatorOptions = {
  inChannels: 1,
  numClasses: 3,
  channels: [4, 8],
  labelNames: ["background", "a", "b"],
  window: [16, 16, 8],
  overlap: 0.25,
  seed: 1,
};

function cases(): ValidationCase[] {
  const rng = new Rng(5);
  return [0, 1].map((k) => {
    const shape: [number, number, number] = [12, 24, 20];
    const n = shape[0] * shape[1] * shape[2];
    const image = Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
    const labels = Uint8Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 1 : i % 11 === 0 ? 2 : 0));
    return { name: `case${k}`, image, labels, shape, channels: 1 };
  });
}

function weights(): { params: Float32Array; stats: Float32Array } {
  const layout = paramLayout({ inChannels: 1, numClasses: 3, channels: [4, 8] });
  const rng = new Rng(9);
  const params = Float32Array.from({ length: layout.paramsLength }, () => (rng.next() - 0.5) * 0.4);
  const stats = new Float32Array(layout.statsLength);
  for (let i = 0; i < stats.length; i++) stats[i] = i % 2 === 0 ? 0 : 1; // running mean 0, variance 1
  return { params, stats };
}

let thread: ValidationThread;
beforeAll(async () => {
  await initBackend({ backend: "cpu", threads: 1 });
  thread = await ValidationThread.start(options, cases());
});
afterAll(async () => {
  await thread.close();
});

describe("ValidationThread", () => {
  it("gives the same Dice and preview as the Validator on this thread", async () => {
    const { params, stats } = weights();
    const here = new Validator(options, cases());
    const expected = await here.validate(params, stats);
    here.dispose();
    const got = await thread.validate(params, stats);
    expect(got.perCase).toEqual(expected.perCase);
    expect(got.dice).toEqual(expected.dice);
    expect(got.preview.map((p) => [p.name, p.pred])).toEqual(expected.preview.map((p) => [p.name, p.pred]));
    // the weights handed over were copies: the caller's arrays are intact
    expect(params.length).toBe(weights().params.length);
    expect(params).toEqual(weights().params);
  });

  it("draws the preview and the curves in the thread, as PNG files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "voxring-vthread-"));
    try {
      const { params, stats } = weights();
      await thread.validate(params, stats, undefined, { path: join(dir, "p.png"), labelNames: options.labelNames });
      await thread.writeCurves(
        join(dir, "c.png"),
        [
          [1, 0.9],
          [2, 0.8],
        ],
        { mean: [[2, 0.1]] },
      );
      for (const name of ["p.png", "c.png"]) {
        expect(readFileSync(join(dir, name)).subarray(1, 4).toString("latin1")).toBe("PNG");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a cancel interrupts the validation in flight; the thread serves the next one", async () => {
    const { params, stats } = weights();
    const abort = new AbortController();
    const cancelled = thread.validate(params, stats, abort.signal);
    abort.abort();
    await expect(cancelled).rejects.toMatchObject({ name: "AbortError" });
    const after = await thread.validate(params, stats);
    expect(after.perCase).toHaveLength(2);
  });
});
