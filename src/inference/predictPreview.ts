/**
 * `predict --png`: the middle axial slice of the input, the T2 channel in grey (1st–99th percentile window),
 * each predicted class as a translucent colour, and a legend naming the classes. Drawn with the run
 * pictures' raster (src/viz) so the colours match RUN/val_preview.png. Displayed the way
 * radiologists read axial slices, whatever the voxel order: anterior up, the patient's right on the left
 * (the affine's world axes are RAS+, as in NIfTI).
 */

import type { ImageVolume } from "../data/volume.js";
import { Canvas } from "../viz/canvas.js";
import { classColor } from "../viz/preview.js";

export interface PreviewInput {
  image: ImageVolume;
  labels: Uint8Array;
  labelNames: string[];
  /** Channel drawn in grey (the bundle's T2 channel). */
  greyChannel: number;
  title: string;
}

const LEGEND_HEIGHT = 22;

export function writePredictionPreview(
  path: string,
  { image, labels, labelNames, greyChannel, title }: PreviewInput,
): void {
  const [X, Y, Z] = image.shape;
  const z = Math.floor(Z / 2);
  // Scale so that the slice is drawn at roughly 300–600 px whatever its size.
  const scale =
    Math.max(X, Y) < 300 ? Math.ceil(300 / Math.max(X, Y)) : Math.max(X, Y) > 600 ? 600 / Math.max(X, Y) : 1;
  const w = Math.max(1, Math.round(X * scale));
  const h = Math.max(1, Math.round(Y * scale));
  const canvas = new Canvas(Math.max(w, 240), h + LEGEND_HEIGHT + 14, [0, 0, 0]);

  const slice = new Float32Array(X * Y);
  for (let i = 0; i < X * Y; i++) slice[i] = image.data[(z * X * Y + i) * image.channels + greyChannel];
  const sorted = Float32Array.from(slice).sort();
  const lo = sorted[Math.floor((sorted.length - 1) * 0.01)];
  const hi = sorted[Math.floor((sorted.length - 1) * 0.99)];
  // Voxel axis j pointing anterior (+y world) puts its high end at the top; axis i pointing to the patient's
  // right (+x world) puts its high end on the left.
  const flipRows = image.affine[1][1] > 0;
  const flipColumns = image.affine[0][0] > 0;
  for (let py = 0; py < h; py++) {
    const row = Math.min(Y - 1, Math.floor(py / scale));
    const y = flipRows ? Y - 1 - row : row;
    for (let px = 0; px < w; px++) {
      const column = Math.min(X - 1, Math.floor(px / scale));
      const x = flipColumns ? X - 1 - column : column;
      const grey = Math.max(0, Math.min(255, ((slice[y * X + x] - lo) / (hi - lo || 1)) * 255));
      canvas.setPixel(px, 14 + py, [grey, grey, grey]);
      const k = labels[(z * Y + y) * X + x];
      if (k > 0) canvas.setPixel(px, 14 + py, classColor(k), 0.45);
    }
  }
  canvas.text(3, 3, `${title}  z=${z}/${Z}`, [230, 230, 230]);
  let lx = 4;
  const ly = 14 + h + 8;
  for (let k = 1; k < labelNames.length; k++) {
    canvas.fillRect(lx, ly, 10, 7, classColor(k));
    lx += 14 + canvas.text(lx + 14, ly, labelNames[k], [230, 230, 230]) + 6;
  }
  canvas.writePng(path);
}
