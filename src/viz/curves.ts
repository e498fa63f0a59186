/**
 * RUN/curves.png: training loss (left panel) and validation Dice per class plus their mean (right panel)
 * against the global step, with axes, ticks and a legend.
 */
import { Canvas, type Rgb, textWidth } from "./canvas.js";

export interface Series {
  label: string;
  color: Rgb;
  points: [number, number][];
}

export const palette: Rgb[] = [
  [31, 119, 180],
  [214, 39, 40],
  [44, 160, 44],
  [255, 127, 14],
  [148, 103, 189],
  [140, 86, 75],
  [23, 190, 207],
];

const axisColor: Rgb = [40, 40, 40];
const gridColor: Rgb = [225, 225, 225];

export interface PanelOptions {
  title: string;
  xLabel: string;
  yRange?: [number, number];
}

/** Draws one line chart into a canvas of the given size. */
export function drawChart(width: number, height: number, series: Series[], options: PanelOptions): Canvas {
  const canvas = new Canvas(width, height);
  const left = 56;
  const right = width - 12;
  const top = 28;
  const bottom = height - 34;
  canvas.text(left, 8, options.title, axisColor, 2);

  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  let [x0, x1] = [Math.min(0, ...xs), Math.max(1, ...xs)];
  let [y0, y1] = options.yRange ?? [Math.min(...ys, 0), Math.max(...ys, 1e-6)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const px = (x: number) => left + ((x - x0) / (x1 - x0)) * (right - left);
  const py = (y: number) => bottom - ((y - y0) / (y1 - y0)) * (bottom - top);

  for (let i = 0; i <= 5; i++) {
    const y = y0 + ((y1 - y0) * i) / 5;
    canvas.line(left, py(y), right, py(y), gridColor);
    const label = formatTick(y);
    canvas.text(left - 6 - textWidth(label), py(y) - 3, label, axisColor);
    const x = x0 + ((x1 - x0) * i) / 5;
    canvas.line(px(x), bottom, px(x), bottom + 4, axisColor);
    const xl = formatTick(x);
    canvas.text(px(x) - textWidth(xl) / 2, bottom + 8, xl, axisColor);
  }
  canvas.line(left, top, left, bottom, axisColor);
  canvas.line(left, bottom, right, bottom, axisColor);
  canvas.text((left + right) / 2 - textWidth(options.xLabel) / 2, height - 12, options.xLabel, axisColor);

  for (const s of series) {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    for (let i = 1; i < pts.length; i++) {
      canvas.line(px(pts[i - 1][0]), py(pts[i - 1][1]), px(pts[i][0]), py(pts[i][1]), s.color, 2);
    }
    if (pts.length === 1) canvas.fillRect(px(pts[0][0]) - 2, py(pts[0][1]) - 2, 5, 5, s.color);
  }

  // Legend, top right inside the plot area.
  const legendWidth = Math.max(0, ...series.map((s) => textWidth(s.label))) + 22;
  let ly = top + 6;
  for (const s of series) {
    const lx = right - legendWidth - 4;
    canvas.fillRect(lx - 2, ly - 2, legendWidth + 4, 12, [255, 255, 255]);
    canvas.fillRect(lx, ly + 2, 14, 3, s.color);
    canvas.text(lx + 18, ly, s.label, axisColor);
    ly += 12;
  }
  return canvas;
}

/** Loss and Dice side by side, written to `path`. */
export function writeCurvesPng(path: string, loss: [number, number][], dice: Record<string, [number, number][]>): void {
  const width = 960;
  const height = 360;
  const out = new Canvas(width, height);
  const lossPanel = drawChart(width / 2, height, [{ label: "train loss", color: palette[0], points: smooth(loss) }], {
    title: "Training loss",
    xLabel: "step",
  });
  const diceSeries = Object.entries(dice).map(([label, points], i) => ({
    label,
    color: label === "mean" ? ([0, 0, 0] as Rgb) : palette[(i + 1) % palette.length],
    points,
  }));
  const dicePanel = drawChart(width / 2, height, diceSeries, {
    title: "Validation Dice",
    xLabel: "step",
    yRange: [0, 1],
  });
  out.blit(lossPanel, 0, 0);
  out.blit(dicePanel, width / 2, 0);
  out.writePng(path);
}

/** A running mean over a window proportional to the length, so noisy per-step losses read as a trend. */
function smooth(points: [number, number][]): [number, number][] {
  const window = Math.max(1, Math.floor(points.length / 50));
  if (window === 1) return points;
  return points.map(([x], i) => {
    const from = Math.max(0, i - window + 1);
    const slice = points.slice(from, i + 1);
    return [x, slice.reduce((sum, [, y]) => sum + y, 0) / slice.length];
  });
}

function formatTick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1000) return `${Math.round(v / 100) / 10}k`;
  if (a >= 10) return String(Math.round(v));
  if (a >= 1) return v.toFixed(1).replace(/\.0$/, "");
  return v.toFixed(2);
}
