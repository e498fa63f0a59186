import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { loadNative } from "../../../src/native/addon.js";

// The addon is required in the test environment (CI installs libdnnl-dev): a missing addon must fail here
// rather than let every native test fall back to the plain kernels unnoticed.
const native = loadNative();

function randomArray(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

describe("native addon pipeline", () => {
  it("loads and reports its oneDNN version", () => {
    expect(native).not.toBeNull();
    expect(native?.dnnlVersion).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it.each([
    [1, 1, 1, 1],
    [3, 7, 5, 11],
    [2, 33, 17, 9],
  ])("matMul batch %i, %i×%i · %i×… matches tfjs", async (batch, m, k, n) => {
    const a = randomArray(batch * m * k, 1 + m);
    const b = randomArray(batch * k * n, 2 + n);
    const out = new Float32Array(batch * m * n);
    native!.matMul(a, b, out, batch, [m, k, n]);
    const expected = await tf.matMul(tf.tensor3d(a, [batch, m, k]), tf.tensor3d(b, [batch, k, n])).data();
    for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(expected[i], 5);
  });

  it("rejects a buffer of the wrong size instead of reading past it", () => {
    expect(() => native!.matMul(new Float32Array(3), new Float32Array(4), new Float32Array(4), 1, [2, 2, 2])).toThrow(
      /a has 3 elements, expected 4/,
    );
  });
});
