import { describe, expect, it } from "vitest";
import { Adam } from "../../../src/train/adam.js";

/** Float64 transcription of torch.optim.Adam's update for one scalar. */
function torchAdam(p: number, grads: number[], lr = 5e-4, b1 = 0.9, b2 = 0.999, eps = 1e-8): number {
  let m = 0;
  let v = 0;
  for (const [i, g] of grads.entries()) {
    const t = i + 1;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const denom = Math.sqrt(v) / Math.sqrt(1 - b2 ** t) + eps;
    p -= ((lr / (1 - b1 ** t)) * m) / denom;
  }
  return p;
}

describe("Adam", () => {
  it("takes a first step of lr·sign(g), whatever the gradient's size (bias correction)", () => {
    const adam = new Adam(3);
    const params = Float32Array.from([1, -2, 0.5]);
    adam.update(params, Float32Array.from([3, -1e-3, 40]));
    expect(params[0]).toBeCloseTo(1 - 5e-4, 7);
    expect(params[1]).toBeCloseTo(-2 + 5e-4, 6);
    expect(params[2]).toBeCloseTo(0.5 - 5e-4, 7);
  });

  it("follows PyTorch's update over several steps", () => {
    const grads = [
      [0.3, -1.2],
      [0.1, 0.8],
      [-0.5, 2.5],
      [0.25, -0.02],
    ];
    const adam = new Adam(2, { lr: 1e-2 });
    const params = Float32Array.from([0.7, -0.3]);
    for (const g of grads) adam.update(params, Float32Array.from(g));
    expect(params[0]).toBeCloseTo(
      torchAdam(
        0.7,
        grads.map((g) => g[0]),
        1e-2,
      ),
      6,
    );
    expect(params[1]).toBeCloseTo(
      torchAdam(
        -0.3,
        grads.map((g) => g[1]),
        1e-2,
      ),
      6,
    );
    expect(adam.steps).toBe(4);
  });

  it("resumes from saved state exactly as if never interrupted", () => {
    const g = (k: number) => Float32Array.from([Math.sin(k) + 0.1, Math.cos(k) - 0.2, 0.3 * k]);
    const straight = new Adam(3);
    const a = Float32Array.from([1, 2, 3]);
    for (let k = 1; k <= 6; k++) straight.update(a, g(k));

    const first = new Adam(3);
    const b = Float32Array.from([1, 2, 3]);
    for (let k = 1; k <= 3; k++) first.update(b, g(k));
    const saved = first.getState();
    first.update(new Float32Array([9, 9, 9]), g(99)); // later steps must not leak into the saved state
    const resumed = new Adam(3);
    resumed.setState(saved);
    for (let k = 4; k <= 6; k++) resumed.update(b, g(k));
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it("refuses arrays of the wrong length", () => {
    expect(() => new Adam(2).update(new Float32Array(3), new Float32Array(3))).toThrow(/expected 2/);
    expect(() => new Adam(2).setState({ m: new Float32Array(1), v: new Float32Array(1), step: 1 })).toThrow();
  });
});
