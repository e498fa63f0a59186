/**
 * A tiny RGBA raster for the run's pictures (curves.png, val_preview.png): filled rectangles, 1-px lines,
 * text in a built-in 5×7 bitmap font, PNG encoding through pngjs. Enough for plots; nothing more.
 */
import { PNG } from "pngjs";
import { writeFileAtomic } from "../atomicWrite.js";

export type Rgb = [number, number, number];

export class Canvas {
  readonly data: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.data = new Uint8Array(width * height * 4);
    this.fillRect(0, 0, width, height, background);
  }

  setPixel(x: number, y: number, [r, g, b]: Rgb, alpha = 1): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 4;
    const d = this.data;
    d[i] = d[i] * (1 - alpha) + r * alpha;
    d[i + 1] = d[i + 1] * (1 - alpha) + g * alpha;
    d[i + 2] = d[i + 2] * (1 - alpha) + b * alpha;
    d[i + 3] = 255;
  }

  fillRect(x0: number, y0: number, w: number, h: number, color: Rgb): void {
    for (let y = Math.max(0, y0); y < Math.min(this.height, y0 + h); y++) {
      for (let x = Math.max(0, x0); x < Math.min(this.width, x0 + w); x++) this.setPixel(x, y, color);
    }
  }

  /** Bresenham line, `thickness` pixels wide. */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, thickness = 1): void {
    const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    const half = Math.floor(thickness / 2);
    for (let s = 0; s <= steps; s++) {
      const x = x0 + ((x1 - x0) * s) / steps;
      const y = y0 + ((y1 - y0) * s) / steps;
      for (let dy = -half; dy < thickness - half; dy++) {
        for (let dx = -half; dx < thickness - half; dx++) this.setPixel(x + dx, y + dy, color);
      }
    }
  }

  /** Text at (x, y) = top-left, in the 5×7 font scaled by `scale`; returns the width drawn. */
  text(x: number, y: number, text: string, color: Rgb, scale = 1): number {
    let cx = x;
    for (const ch of text) {
      const rows = glyph(ch);
      for (let r = 0; r < 7; r++) {
        for (let c = 0; c < 5; c++) {
          if (rows[r] & (0x10 >> c)) this.fillRect(cx + c * scale, y + r * scale, scale, scale, color);
        }
      }
      cx += 6 * scale;
    }
    return cx - x;
  }

  /** Copies another canvas in at (x, y). */
  blit(source: Canvas, x: number, y: number): void {
    for (let sy = 0; sy < source.height; sy++) {
      for (let sx = 0; sx < source.width; sx++) {
        const i = (sy * source.width + sx) * 4;
        this.setPixel(x + sx, y + sy, [source.data[i], source.data[i + 1], source.data[i + 2]]);
      }
    }
  }

  /** Encodes as PNG and writes atomically. */
  writePng(path: string): void {
    const png = new PNG({ width: this.width, height: this.height });
    png.data = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    writeFileAtomic(path, PNG.sync.write(png));
  }
}

export function textWidth(text: string, scale = 1): number {
  return [...text].length * 6 * scale;
}

// 5×7 glyphs, one number per row, bit 4 = leftmost column. Lower case draws as upper case.
const font: Record<string, number[]> = {
  " ": [0, 0, 0, 0, 0, 0, 0],
  "0": [14, 17, 19, 21, 25, 17, 14],
  "1": [4, 12, 4, 4, 4, 4, 14],
  "2": [14, 17, 1, 2, 4, 8, 31],
  "3": [31, 2, 4, 2, 1, 17, 14],
  "4": [2, 6, 10, 18, 31, 2, 2],
  "5": [31, 16, 30, 1, 1, 17, 14],
  "6": [6, 8, 16, 30, 17, 17, 14],
  "7": [31, 1, 2, 4, 8, 8, 8],
  "8": [14, 17, 17, 14, 17, 17, 14],
  "9": [14, 17, 17, 15, 1, 2, 12],
  A: [14, 17, 17, 31, 17, 17, 17],
  B: [30, 17, 17, 30, 17, 17, 30],
  C: [14, 17, 16, 16, 16, 17, 14],
  D: [28, 18, 17, 17, 17, 18, 28],
  E: [31, 16, 16, 30, 16, 16, 31],
  F: [31, 16, 16, 30, 16, 16, 16],
  G: [14, 17, 16, 23, 17, 17, 15],
  H: [17, 17, 17, 31, 17, 17, 17],
  I: [14, 4, 4, 4, 4, 4, 14],
  J: [7, 2, 2, 2, 2, 18, 12],
  K: [17, 18, 20, 24, 20, 18, 17],
  L: [16, 16, 16, 16, 16, 16, 31],
  M: [17, 27, 21, 21, 17, 17, 17],
  N: [17, 17, 25, 21, 19, 17, 17],
  O: [14, 17, 17, 17, 17, 17, 14],
  P: [30, 17, 17, 30, 16, 16, 16],
  Q: [14, 17, 17, 17, 21, 18, 13],
  R: [30, 17, 17, 30, 20, 18, 17],
  S: [15, 16, 16, 14, 1, 1, 30],
  T: [31, 4, 4, 4, 4, 4, 4],
  U: [17, 17, 17, 17, 17, 17, 14],
  V: [17, 17, 17, 17, 17, 10, 4],
  W: [17, 17, 17, 21, 21, 21, 10],
  X: [17, 17, 10, 4, 10, 17, 17],
  Y: [17, 17, 17, 10, 4, 4, 4],
  Z: [31, 1, 2, 4, 8, 16, 31],
  ".": [0, 0, 0, 0, 0, 12, 12],
  ",": [0, 0, 0, 0, 12, 4, 8],
  ":": [0, 12, 12, 0, 12, 12, 0],
  "-": [0, 0, 0, 31, 0, 0, 0],
  _: [0, 0, 0, 0, 0, 0, 31],
  "/": [0, 1, 2, 4, 8, 16, 0],
  "(": [2, 4, 8, 8, 8, 4, 2],
  ")": [8, 4, 2, 2, 2, 4, 8],
  "=": [0, 0, 31, 0, 31, 0, 0],
  "%": [24, 25, 2, 4, 8, 19, 3],
  "+": [0, 4, 4, 31, 4, 4, 0],
  "#": [10, 10, 31, 10, 31, 10, 10],
  "?": [14, 17, 1, 2, 4, 0, 4],
};

function glyph(ch: string): number[] {
  return font[ch] ?? font[ch.toUpperCase()] ?? font["?"];
}
