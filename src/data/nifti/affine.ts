/**
 * Voxel-to-world affines as nibabel computes them (`Nifti1Header.get_best_affine`): the sform when
 * sform_code != 0, else the qform when qform_code != 0, else the pixdim-only "base" affine centred on the
 * image with x flipped. Matching nibabel exactly matters because users compare our headers with theirs.
 */

/** 4×4, row-major nested arrays; the last row is [0, 0, 0, 1]. */
export type Affine = number[][];

export interface AffineFields {
  sformCode: number;
  qformCode: number;
  /** srow_x, srow_y, srow_z */
  srow: number[][];
  quatern: [number, number, number];
  qoffset: [number, number, number];
  /** pixdim[0..7]; pixdim[0] is qfac */
  pixdim: number[];
  /** dim[1..] of the image */
  shape: number[];
}

export function bestAffine(h: AffineFields): Affine {
  if (h.sformCode !== 0) return [...h.srow.map((row) => [...row]), [0, 0, 0, 1]];
  if (h.qformCode !== 0) return qformAffine(h);
  return baseAffine(h.shape, h.pixdim);
}

export function qformAffine(h: Pick<AffineFields, "quatern" | "qoffset" | "pixdim">): Affine {
  const [b, c, d] = h.quatern;
  // nibabel's fillpositive: w from the unit norm, clamped at 0 for tiny negative rounding errors.
  const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
  const r = quaternionToMatrix(a, b, c, d);
  const qfac = h.pixdim[0] === -1 ? -1 : 1;
  const vox = [h.pixdim[1], h.pixdim[2], h.pixdim[3] * qfac];
  return [
    [r[0][0] * vox[0], r[0][1] * vox[1], r[0][2] * vox[2], h.qoffset[0]],
    [r[1][0] * vox[0], r[1][1] * vox[1], r[1][2] * vox[2], h.qoffset[1]],
    [r[2][0] * vox[0], r[2][1] * vox[1], r[2][2] * vox[2], h.qoffset[2]],
    [0, 0, 0, 1],
  ];
}

/** nibabel's shape_zoom_affine(shape, zooms, x_flip=True): origin at the image centre. */
export function baseAffine(shape: number[], pixdim: number[]): Affine {
  const affine = identity();
  for (let i = 0; i < 3; i++) {
    const n = shape[i] ?? 1;
    const zoom = i < shape.length ? pixdim[i + 1] : 1;
    const signed = i === 0 ? -zoom : zoom;
    affine[i][i] = signed;
    affine[i][3] = (-(n - 1) / 2) * signed;
  }
  return affine;
}

function quaternionToMatrix(w: number, x: number, y: number, z: number): number[][] {
  const n = w * w + x * x + y * y + z * z;
  if (n < 1e-15)
    return [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
  const s = 2 / n;
  const [X, Y, Z] = [x * s, y * s, z * s];
  const [wX, wY, wZ] = [w * X, w * Y, w * Z];
  const [xX, xY, xZ] = [x * X, x * Y, x * Z];
  const [yY, yZ, zZ] = [y * Y, y * Z, z * Z];
  return [
    [1 - (yY + zZ), xY - wZ, xZ + wY],
    [xY + wZ, 1 - (xX + zZ), yZ - wX],
    [xZ - wY, yZ + wX, 1 - (xX + yY)],
  ];
}

export interface QformParams {
  quatern: [number, number, number];
  qoffset: [number, number, number];
  qfac: 1 | -1;
  zooms: [number, number, number];
}

/**
 * The qform that best represents an affine (nibabel's set_qform): zooms are the column norms, qfac makes the
 * rotation proper, and the rotation is orthonormalised (Gram-Schmidt; exact when the affine has no shear).
 */
export function qformFromAffine(affine: Affine): QformParams {
  const cols = [0, 1, 2].map((j) => [affine[0][j], affine[1][j], affine[2][j]]);
  const zooms = cols.map((c) => Math.hypot(c[0], c[1], c[2]) || 1) as [number, number, number];
  const r = cols.map((c, j) => c.map((v) => v / zooms[j]));
  const qfac = det3(r) > 0 ? 1 : -1;
  if (qfac < 0) r[2] = r[2].map((v) => -v);
  orthonormalise(r);
  // r holds columns; quaternion maths wants m[row][col].
  const m = [0, 1, 2].map((i) => [r[0][i], r[1][i], r[2][i]]);
  let [w, x, y, z] = matrixToQuaternion(m);
  if (w < 0) [w, x, y, z] = [-w, -x, -y, -z];
  return { quatern: [x, y, z], qoffset: [affine[0][3], affine[1][3], affine[2][3]], qfac, zooms };
}

function orthonormalise(cols: number[][]): void {
  const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  for (let j = 0; j < 3; j++) {
    for (let k = 0; k < j; k++) {
      const p = dot(cols[j], cols[k]);
      cols[j] = cols[j].map((v, i) => v - p * cols[k][i]);
    }
    const n = Math.sqrt(dot(cols[j], cols[j])) || 1;
    cols[j] = cols[j].map((v) => v / n);
  }
}

/** Shepperd's method: numerically stable for every rotation. */
function matrixToQuaternion(m: number[][]): [number, number, number, number] {
  const trace = m[0][0] + m[1][1] + m[2][2];
  if (trace > 0) {
    const s = Math.sqrt(trace + 1) * 2;
    return [0.25 * s, (m[2][1] - m[1][2]) / s, (m[0][2] - m[2][0]) / s, (m[1][0] - m[0][1]) / s];
  }
  if (m[0][0] > m[1][1] && m[0][0] > m[2][2]) {
    const s = Math.sqrt(1 + m[0][0] - m[1][1] - m[2][2]) * 2;
    return [(m[2][1] - m[1][2]) / s, 0.25 * s, (m[0][1] + m[1][0]) / s, (m[0][2] + m[2][0]) / s];
  }
  if (m[1][1] > m[2][2]) {
    const s = Math.sqrt(1 + m[1][1] - m[0][0] - m[2][2]) * 2;
    return [(m[0][2] - m[2][0]) / s, (m[0][1] + m[1][0]) / s, 0.25 * s, (m[1][2] + m[2][1]) / s];
  }
  const s = Math.sqrt(1 + m[2][2] - m[0][0] - m[1][1]) * 2;
  return [(m[1][0] - m[0][1]) / s, (m[0][2] + m[2][0]) / s, (m[1][2] + m[2][1]) / s, 0.25 * s];
}

function det3(cols: number[][]): number {
  const [a, b, c] = cols;
  return a[0] * (b[1] * c[2] - b[2] * c[1]) - b[0] * (a[1] * c[2] - a[2] * c[1]) + c[0] * (a[1] * b[2] - a[2] * b[1]);
}

export function identity(): Affine {
  return [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
}

/** Diagonal affine for a spacing, origin at voxel 0. */
export function spacingAffine(spacing: readonly number[]): Affine {
  const a = identity();
  for (let i = 0; i < 3; i++) a[i][i] = spacing[i];
  return a;
}

/** Voxel sizes implied by an affine (its column norms). */
export function affineSpacing(affine: Affine): [number, number, number] {
  return [0, 1, 2].map((j) => Math.hypot(affine[0][j], affine[1][j], affine[2][j])) as [number, number, number];
}

/** The affine of a grid whose voxel i sits at voxel i·step of the original grid (per axis), same origin. */
export function scaleAffine(affine: Affine, step: readonly number[]): Affine {
  return affine.map((row, i) => (i === 3 ? [...row] : [row[0] * step[0], row[1] * step[1], row[2] * step[2], row[3]]));
}

export function affinesClose(a: Affine, b: Affine, tolerance = 1e-3): boolean {
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) if (Math.abs(a[i][j] - b[i][j]) > tolerance) return false;
  return true;
}
