/**
 * RUN/val_preview.png: the middle axial slice of each validation case, T2 in grey, the prediction as a
 * translucent colour fill and the ground truth as a contour of the same colour, one tile per case.
 */
import { Canvas, type Rgb } from "./canvas.js";
import { palette } from "./curves.js";

export interface PreviewCase {
  name: string;
  /** Channels-last volume (channel 0 is drawn), shape [X, Y, Z]. */
  image: Float32Array;
  channels: number;
  shape: [number, number, number];
  truth: Uint8Array;
  pred: Uint8Array;
  dice?: number;
}

const tileSize = 200;

export function writePreviewPng(path: string, cases: PreviewCase[], labelNames: string[]): void {
  const columns = Math.min(4, Math.max(1, cases.length));
  const rows = Math.ceil(cases.length / columns);
  const legendHeight = 20;
  const canvas = new Canvas(Math.max(400, columns * tileSize), rows * (tileSize + 14) + legendHeight, [0, 0, 0]);
  cases.forEach((c, i) => {
    const tile = drawTile(c);
    const x = (i % columns) * tileSize;
    const y = Math.floor(i / columns) * (tileSize + 14);
    canvas.blit(tile, x + (tileSize - tile.width) / 2, y);
    const caption = c.dice === undefined ? c.name : `${c.name} dice ${c.dice.toFixed(3)}`;
    canvas.text(x + 4, y + tileSize + 3, caption, [230, 230, 230]);
  });
  let lx = 4;
  const ly = canvas.height - legendHeight + 6;
  lx += canvas.text(lx, ly, "fill: prediction  line: truth  ", [230, 230, 230]);
  for (let k = 1; k < labelNames.length; k++) {
    canvas.fillRect(lx, ly, 10, 7, classColor(k));
    lx += 14 + canvas.text(lx + 14, ly, labelNames[k], [230, 230, 230]);
  }
  canvas.writePng(path);
}

export function classColor(k: number): Rgb {
  return palette[(k + 1) % palette.length];
}

function drawTile(c: PreviewCase): Canvas {
  const [X, Y, Z] = c.shape;
  const z = Math.floor(Z / 2);
  const scale = Math.min(tileSize / X, tileSize / Y);
  const w = Math.max(1, Math.floor(X * scale));
  const h = Math.max(1, Math.floor(Y * scale));
  const tile = new Canvas(w, h, [0, 0, 0]);

  const slice = new Float32Array(X * Y);
  for (let i = 0; i < X * Y; i++) slice[i] = c.image[(z * X * Y + i) * c.channels];
  const sorted = Float32Array.from(slice).sort();
  const lo = sorted[Math.floor(sorted.length * 0.01)];
  const hi = sorted[Math.floor(sorted.length * 0.99)];
  const at = (px: number, py: number) => {
    const x = Math.min(X - 1, Math.floor(px / scale));
    const y = Math.min(Y - 1, Math.floor(py / scale));
    return z * X * Y + y * X + x;
  };
  for (let py = 0; py < h; py++) {
    for (let px = 0; px < w; px++) {
      const i = at(px, py);
      const grey = Math.max(0, Math.min(255, ((slice[i - z * X * Y] - lo) / (hi - lo || 1)) * 255));
      tile.setPixel(px, py, [grey, grey, grey]);
      const p = c.pred[i];
      if (p > 0) tile.setPixel(px, py, classColor(p), 0.45);
    }
  }
  // Truth contour: a pixel whose label differs from a neighbour's, drawn in the label's colour.
  for (let py = 0; py < h; py++) {
    for (let px = 0; px < w; px++) {
      const t = c.truth[at(px, py)];
      if (t === 0) continue;
      const edge =
        px === 0 ||
        py === 0 ||
        px === w - 1 ||
        py === h - 1 ||
        c.truth[at(px - 1, py)] !== t ||
        c.truth[at(px + 1, py)] !== t ||
        c.truth[at(px, py - 1)] !== t ||
        c.truth[at(px, py + 1)] !== t;
      if (edge) tile.setPixel(px, py, classColor(t));
    }
  }
  return tile;
}
