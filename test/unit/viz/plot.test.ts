import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { Rng } from "../../../src/random.js";
import { writeCurvesPng } from "../../../src/viz/curves.js";
import { classColor, writePreviewPng } from "../../../src/viz/preview.js";

const dir = mkdtempSync(join(tmpdir(), "voxring-plot-"));

function countColor(png: PNG, [r, g, b]: number[]): number {
  let n = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    if (png.data[i] === r && png.data[i + 1] === g && png.data[i + 2] === b) n++;
  }
  return n;
}

describe("curves.png", () => {
  it("draws the loss line and one line per Dice series", () => {
    const rng = new Rng(3);
    const loss: [number, number][] = Array.from({ length: 120 }, (_, i) => [i, 1 / (1 + i / 20) + 0.05 * rng.next()]);
    const dice = {
      PZ: [
        [20, 0.3],
        [60, 0.55],
        [119, 0.7],
      ] as [number, number][],
      TZ: [
        [20, 0.4],
        [60, 0.7],
        [119, 0.82],
      ] as [number, number][],
      mean: [
        [20, 0.35],
        [60, 0.625],
        [119, 0.76],
      ] as [number, number][],
    };
    const path = join(dir, "curves.png");
    writeCurvesPng(path, loss, dice);
    const png = PNG.sync.read(readFileSync(path));
    expect([png.width, png.height]).toEqual([960, 360]);
    expect(countColor(png, [31, 119, 180])).toBeGreaterThan(200); // the loss line, 2 px wide
    expect(countColor(png, [214, 39, 40])).toBeGreaterThan(50); // PZ
    expect(countColor(png, [44, 160, 44])).toBeGreaterThan(50); // TZ
  });
});

describe("val_preview.png", () => {
  it("overlays prediction and truth of each case's middle slice", () => {
    const [X, Y, Z] = [37, 29, 5];
    const image = new Float32Array(X * Y * Z * 2);
    const truth = new Uint8Array(X * Y * Z);
    const pred = new Uint8Array(X * Y * Z);
    const rng = new Rng(1);
    for (let z = 0; z < Z; z++) {
      for (let y = 0; y < Y; y++) {
        for (let x = 0; x < X; x++) {
          const i = (z * Y + y) * X + x;
          const r = Math.hypot(x - 18, y - 14);
          truth[i] = r < 6 ? 2 : r < 10 ? 1 : 0;
          pred[i] = Math.hypot(x - 17, y - 14) < 9 ? 1 : 0;
          image[i * 2] = (r < 10 ? 2 : 1) + rng.normal() * 0.1;
          image[i * 2 + 1] = rng.next();
        }
      }
    }
    const path = join(dir, "preview.png");
    const c = { name: "case_1", image, channels: 2, shape: [X, Y, Z] as [number, number, number], truth, pred };
    writePreviewPng(path, [c, { ...c, name: "case_2", dice: 0.5 }], ["background", "PZ", "TZ"]);
    const png = PNG.sync.read(readFileSync(path));
    expect(png.width).toBe(400);
    expect(countColor(png, classColor(2))).toBeGreaterThan(20); // the TZ truth contour
  });
});
