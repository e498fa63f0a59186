import type { Rng } from "../../random.js";
import type { Affine } from "../nifti/affine.js";
import { resampleLinear } from "../resample.js";
import type { Shape3 } from "../volume.js";

/**
 * One synthetic prostate MRI case in the image of Task05: T2 and ADC channels on an anisotropic grid
 * (≈0.6×0.6×3.6 mm, 256–320 in-plane, 15–24 slices), a transition zone inside a crescent of peripheral zone,
 * anterior fibromuscular stroma (labelled background), rectum, bladder, obturator muscles, bones and fat
 * around it. Intensities of tissues overlap within and across cases, texture and bias field vary them in
 * space and Rician-like noise sits on top, so no intensity threshold separates the classes: a network has
 * to use shape and context, as on the real data.
 */
export interface Phantom {
  shape: Shape3;
  spacing: Shape3;
  affine: Affine;
  /** X×Y×Z×2 float32 in NIfTI file order: all of T2, then all of ADC */
  image: Float32Array;
  /** X×Y×Z: 0 background, 1 PZ, 2 TZ */
  labels: Uint8Array;
}

/** Mean (T2, ADC) of each tissue, before per-case jitter, on a 0..1 scale. */
const TISSUES = {
  air: [0.02, 0.02],
  fat: [0.78, 0.14],
  pelvis: [0.5, 0.42],
  muscle: [0.3, 0.5],
  bone: [0.58, 0.22],
  cortex: [0.08, 0.08],
  rectumWall: [0.3, 0.42],
  rectumLumen: [0.08, 0.6],
  bladder: [0.95, 0.95],
  pz: [0.62, 0.64],
  tz: [0.42, 0.48],
  stroma: [0.22, 0.34],
  lesion: [0.3, 0.26],
} as const;
type Tissue = keyof typeof TISSUES;

/** How much the texture field modulates each tissue (nodular TZ most). */
const TEXTURE: Record<Tissue, number> = {
  air: 0,
  fat: 0.12,
  pelvis: 0.3,
  muscle: 0.08,
  bone: 0.2,
  cortex: 0.05,
  rectumWall: 0.1,
  rectumLumen: 0.3,
  bladder: 0.04,
  pz: 0.1,
  tz: 0.22,
  stroma: 0.1,
  lesion: 0.1,
};

/** An ellipsoid (or, with infinite c, an elliptic cylinder along z) rotated in-plane by `angle`. */
interface Shape {
  center: [number, number, number];
  axes: [number, number, number];
  angle: number;
}

/** A Shape with what every voxel needs precomputed. */
interface PreparedShape extends Shape {
  cos: number;
  sin: number;
  /** mm per unit of normalised radius at the border, for the soft edge */
  scale: number;
}

function prepare(s: Shape): PreparedShape {
  return { ...s, cos: Math.cos(s.angle), sin: Math.sin(s.angle), scale: Math.min(s.axes[0], s.axes[1], s.axes[2]) };
}

interface Layer {
  shape: Shape;
  tissue: Tissue;
}

/**
 * Gaussian noise comes from a fixed table indexed by random bits: four Box-Muller draws per voxel cost more
 * than the whole anatomy, and a 64k-entry table is indistinguishable from fresh draws for this purpose.
 */
const GAUSSIAN_TABLE = (() => {
  const table = new Float32Array(65536);
  for (let i = 0; i < table.length; i++) {
    // Evenly spaced quantiles of the standard normal: an exact Gaussian histogram, no sampling error.
    const u = (i + 0.5) / table.length;
    table[i] = inverseNormal(u);
  }
  return table;
})();

/** Peter Acklam's rational approximation of the standard normal quantile (|error| < 1.2e-9). */
function inverseNormal(p: number): number {
  const a = [
    -39.6968302866538, 220.946098424521, -275.928510446969, 138.357751867269, -30.6647980661472, 2.50662827745924,
  ];
  const b = [-54.4760987982241, 161.585836858041, -155.698979859887, 66.8013118877197, -13.2806815528857];
  const c = [
    -0.00778489400243029, -0.322396458041136, -2.40075827716184, -2.54973253934373, 4.37466414146497, 2.93816398269878,
  ];
  const d = [0.00778469570904146, 0.32246712907004, 2.445134137143, 3.75440866190742];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    );
  }
  if (p > 1 - low) return -inverseNormal(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}

/** Soft edge width in mm: partial-volume blur at tissue borders. */
const EDGE = 1.2;

export function generatePhantom(rng: Rng): Phantom {
  const side = 256 + 8 * rng.int(9);
  const inPlane = rng.uniform(0.55, 0.7);
  const shape: Shape3 = [side, side, 15 + rng.int(10)];
  const spacing: Shape3 = [inPlane, inPlane, rng.uniform(3.0, 4.0)];
  const extent = shape.map((n, a) => n * spacing[a]);

  const gland = glandShape(rng, extent);
  const layers = anatomy(rng, extent, gland);
  const tz: Shape = {
    center: [gland.center[0], gland.center[1] - 0.18 * gland.axes[1], gland.center[2]],
    axes: [gland.axes[0] * rng.uniform(0.66, 0.78), gland.axes[1] * rng.uniform(0.6, 0.68), gland.axes[2] * 0.85],
    angle: gland.angle,
  };
  const lesion: Shape | null =
    rng.next() < 0.4
      ? {
          center: [
            gland.center[0] + (rng.next() < 0.5 ? -1 : 1) * 0.5 * gland.axes[0],
            gland.center[1] + 0.6 * gland.axes[1],
            gland.center[2] + rng.uniform(-0.3, 0.3) * gland.axes[2],
          ],
          axes: [rng.uniform(3, 7), rng.uniform(3, 6), rng.uniform(4, 8)],
          angle: 0,
        }
      : null;
  const colour = jitteredTissues(rng);
  const texture = smoothField(shape, spacing, 6, () => rng.next());
  const bias = smoothField(shape, spacing, 60, () => rng.uniform(0.75, 1.25));
  const noise = [rng.uniform(0.015, 0.04), rng.uniform(0.025, 0.06)];
  const gain = [1000 * rng.uniform(0.8, 1.25), 2000 * rng.uniform(0.85, 1.15)];

  const voxels = shape[0] * shape[1] * shape[2];
  const image = new Float32Array(voxels * 2);
  const labels = new Uint8Array(voxels);
  const boxes = layers.map((l) => boundingBox(l.shape, shape, spacing));
  const shapes = layers.map((l) => prepare(l.shape));
  const [preparedGland, preparedTz] = [prepare(gland), prepare(tz)];
  const preparedLesion = lesion ? prepare(lesion) : null;
  const glandBox = boundingBox(gland, shape, spacing);
  // Layers that are cylinders along z look the same on every slice, and painting is linear in the texture
  // value t, so their whole stack is worked out once per in-plane pixel as value = a + b·t.
  const flat = layers.findIndex((l) => l.shape.axes[2] !== Infinity);
  const planeLayers = flat < 0 ? layers.length : flat;
  const plane = flattenCylinders(layers.slice(0, planeLayers), shapes, colour, shape, spacing, extent);
  const value = [0, 0];
  let v = 0;
  for (let z = 0; z < shape[2]; z++) {
    const pz = (z + 0.5) * spacing[2] - extent[2] / 2;
    for (let y = 0, p = 0; y < shape[1]; y++) {
      const py = (y + 0.5) * spacing[1] - extent[1] / 2;
      for (let x = 0; x < shape[0]; x++, v++, p++) {
        const px = (x + 0.5) * spacing[0] - extent[0] / 2;
        const t = texture[v];
        value[0] = plane[0][p] + plane[1][p] * t;
        value[1] = plane[2][p] + plane[3][p] * t;
        for (let k = planeLayers; k < layers.length; k++) {
          if (!inside(boxes[k], x, y, z)) continue;
          const m = membership(shapes[k], px, py, pz);
          if (m > 0) paint(value, colour[layers[k].tissue], TEXTURE[layers[k].tissue], t, m);
        }
        if (inside(glandBox, x, y, z))
          labels[v] = paintGland(value, colour, t, preparedGland, preparedTz, preparedLesion, px, py, pz);
        const b = bias[v];
        for (let c = 0; c < 2; c++) {
          const clean = value[c] * (c === 0 ? b : 1 + 0.3 * (b - 1));
          // Magnitude images: Rician-like noise is the modulus of signal plus complex Gaussian noise.
          const bits = rng.nextUint32();
          const re = clean + noise[c] * GAUSSIAN_TABLE[bits & 0xffff];
          const im = noise[c] * GAUSSIAN_TABLE[bits >>> 16];
          // Scanner magnitudes are integers; integral float32 values also compress far better.
          image[c * voxels + v] = Math.round(Math.sqrt(re * re + im * im) * gain[c]);
        }
      }
    }
  }
  const affine: Affine = [
    [-spacing[0], 0, 0, extent[0] / 2],
    [0, -spacing[1], 0, extent[1] / 2],
    [0, 0, spacing[2], -extent[2] / 2],
    [0, 0, 0, 1],
  ];
  return { shape, spacing, affine, image, labels };
}

function glandShape(rng: Rng, extent: number[]): Shape {
  return {
    center: [rng.uniform(-15, 15), rng.uniform(-6, 12), rng.uniform(-0.12, 0.12) * extent[2]],
    axes: [rng.uniform(17, 27), rng.uniform(13, 20), rng.uniform(14, 22)],
    angle: rng.uniform(-0.25, 0.25),
  };
}

/** Everything around the gland, painted in this order (later layers cover earlier ones). */
function anatomy(rng: Rng, extent: number[], gland: Shape): Layer[] {
  const [gx, gy, gz] = gland.center;
  const [ga, gb, gc] = gland.axes;
  const body: Shape = {
    center: [rng.uniform(-5, 5), rng.uniform(-3, 6), 0],
    axes: [extent[0] * rng.uniform(0.4, 0.46), extent[1] * rng.uniform(0.31, 0.37), Infinity],
    angle: 0,
  };
  const pelvis: Shape = { ...body, axes: [body.axes[0] * 0.82, body.axes[1] * 0.8, Infinity] };
  const layers: Layer[] = [
    { shape: body, tissue: "fat" },
    { shape: pelvis, tissue: "pelvis" },
  ];
  for (const side of [-1, 1]) {
    const boneR = rng.uniform(17, 23);
    // Bones sit lateral to the gland but always inside the body outline.
    const boneReach = body.axes[0] - boneR - 6;
    const boneX =
      body.center[0] + side * Math.min(Math.abs(gx + side * (ga + rng.uniform(32, 42)) - body.center[0]), boneReach);
    layers.push(
      { shape: cylinder(boneX, gy + rng.uniform(-5, 5), boneR, boneR * rng.uniform(0.9, 1.2)), tissue: "cortex" },
      { shape: cylinder(boneX, gy, boneR - 3, (boneR - 3) * 1.05), tissue: "bone" },
      {
        shape: cylinder(
          gx + side * (ga + rng.uniform(9, 14)),
          gy + rng.uniform(-4, 4),
          rng.uniform(7, 11),
          rng.uniform(20, 28),
        ),
        tissue: "muscle",
      },
    );
  }
  const rectumR = rng.uniform(9, 14);
  const rectum = cylinder(gx + rng.uniform(-4, 4), gy + gb + rectumR * 0.8 + rng.uniform(2, 6), rectumR, rectumR * 0.8);
  layers.push(
    { shape: rectum, tissue: "rectumWall" },
    { shape: { ...rectum, axes: [rectumR * 0.5, rectumR * 0.35, Infinity] }, tissue: "rectumLumen" },
    {
      shape: {
        center: [gx + rng.uniform(-5, 5), gy - 0.4 * gb, gz + gc + rng.uniform(10, 22)],
        axes: [rng.uniform(25, 40), rng.uniform(20, 30), rng.uniform(15, 25)],
        angle: rng.uniform(-0.2, 0.2),
      },
      tissue: "bladder",
    },
  );
  return layers;
}

function cylinder(x: number, y: number, a: number, b: number): Shape {
  return { center: [x, y, 0], axes: [a, b, Infinity], angle: 0 };
}

/**
 * Paints air and then each cylinder layer on one slice, keeping every pixel's value as a + b·t per channel
 * (t the texture value): returns [a T2, b T2, a ADC, b ADC] planes.
 */
function flattenCylinders(
  layers: Layer[],
  shapes: PreparedShape[],
  colour: Record<Tissue, number[]>,
  shape: Shape3,
  spacing: Shape3,
  extent: number[],
): Float32Array[] {
  const n = shape[0] * shape[1];
  const planes = [0, 1, 2, 3].map(() => new Float32Array(n));
  const boxes = layers.map((l) => boundingBox(l.shape, shape, spacing));
  // Painting tissue T with texture amplitude A at weight m: a += (T(1−A) − a)·m, b += (2TA − b)·m.
  const blend = (p: number, tissue: Tissue, m: number) => {
    const amp = TEXTURE[tissue];
    for (let c = 0; c < 2; c++) {
      const a = planes[2 * c];
      const b = planes[2 * c + 1];
      const t = colour[tissue][c];
      a[p] += (t * (1 - amp) - a[p]) * m;
      b[p] += (2 * t * amp - b[p]) * m;
    }
  };
  for (let y = 0, p = 0; y < shape[1]; y++) {
    const py = (y + 0.5) * spacing[1] - extent[1] / 2;
    for (let x = 0; x < shape[0]; x++, p++) {
      const px = (x + 0.5) * spacing[0] - extent[0] / 2;
      blend(p, "air", 1);
      for (let k = 0; k < layers.length; k++) {
        if (!inside(boxes[k], x, y, 0)) continue;
        const m = membership(shapes[k], px, py, 0);
        if (m > 0) blend(p, layers[k].tissue, m);
      }
    }
  }
  return planes;
}

/** PZ crescent, anterior stroma, TZ and an optional PZ lesion; returns the label of the voxel. */
function paintGland(
  value: number[],
  colour: Record<Tissue, number[]>,
  t: number,
  gland: PreparedShape,
  tz: PreparedShape,
  lesion: PreparedShape | null,
  px: number,
  py: number,
  pz: number,
): number {
  const rGland = radius(gland, px, py, pz);
  const mGland = soft(rGland, gland);
  if (mGland <= 0) return 0;
  // Anterior of this line (in the gland's own frame) is fibromuscular stroma, not PZ.
  const vLocal = -gland.sin * (px - gland.center[0]) + gland.cos * (py - gland.center[1]);
  const anterior = -0.35 * gland.axes[1] - vLocal;
  const mAnterior = clamp01(0.5 + anterior / EDGE);
  const rTz = radius(tz, px, py, pz);
  const mTz = soft(rTz, tz);
  const gl = [0, 0];
  paint(gl, colour.pz, TEXTURE.pz, t, 1);
  paint(gl, colour.stroma, TEXTURE.stroma, t, mAnterior);
  if (lesion) paint(gl, colour.lesion, TEXTURE.lesion, t, soft(radius(lesion, px, py, pz), lesion));
  paint(gl, colour.tz, TEXTURE.tz, t, mTz);
  value[0] += (gl[0] - value[0]) * mGland;
  value[1] += (gl[1] - value[1]) * mGland;
  if (rGland >= 1) return 0;
  if (rTz < 1) return 2;
  return anterior < 0 ? 1 : 0;
}

/** Blends a tissue over `value` with weight m; texture t in [0,1] modulates the tissue multiplicatively. */
function paint(value: number[], tissue: number[], amplitude: number, t: number, m: number): void {
  const mod = 1 + amplitude * (2 * t - 1);
  value[0] += (tissue[0] * mod - value[0]) * m;
  value[1] += (tissue[1] * mod - value[1]) * m;
}

/** Normalised ellipsoid radius: < 1 inside. */
function radius(s: PreparedShape, px: number, py: number, pz: number): number {
  const dx = px - s.center[0];
  const dy = py - s.center[1];
  const c = s.cos;
  const n = s.sin;
  const u = (c * dx + n * dy) / s.axes[0];
  const v = (-n * dx + c * dy) / s.axes[1];
  const w = s.axes[2] === Infinity ? 0 : (pz - s.center[2]) / s.axes[2];
  return Math.sqrt(u * u + v * v + w * w);
}

/** Partial-volume membership from the normalised radius: about EDGE mm of soft border. */
function soft(r: number, s: PreparedShape): number {
  return clamp01(0.5 - ((r - 1) * s.scale) / EDGE);
}

function membership(s: PreparedShape, px: number, py: number, pz: number): number {
  return soft(radius(s, px, py, pz), s);
}

function clamp01(x: number): number {
  return Math.min(Math.max(x, 0), 1);
}

type Box = [number, number, number, number, number, number];

/** Voxel bounds [x0, x1, y0, y1, z0, z1] outside which a shape has no influence. */
function boundingBox(s: Shape, shape: Shape3, spacing: Shape3): Box {
  const reach = Math.max(s.axes[0], s.axes[1]) + 2 * EDGE;
  const zReach = s.axes[2] === Infinity ? Infinity : s.axes[2] + 2 * EDGE;
  const toVoxel = (p: number, a: number) => (p + (shape[a] * spacing[a]) / 2) / spacing[a] - 0.5;
  return [
    Math.floor(toVoxel(s.center[0] - reach, 0)),
    Math.ceil(toVoxel(s.center[0] + reach, 0)),
    Math.floor(toVoxel(s.center[1] - reach, 1)),
    Math.ceil(toVoxel(s.center[1] + reach, 1)),
    zReach === Infinity ? -1 : Math.floor(toVoxel(s.center[2] - zReach, 2)),
    zReach === Infinity ? shape[2] : Math.ceil(toVoxel(s.center[2] + zReach, 2)),
  ];
}

function inside(b: Box, x: number, y: number, z: number): boolean {
  return x >= b[0] && x <= b[1] && y >= b[2] && y <= b[3] && z >= b[4] && z <= b[5];
}

/** Each tissue's (T2, ADC) scaled independently per case, so intensity ranges overlap across cases. */
function jitteredTissues(rng: Rng): Record<Tissue, number[]> {
  const out = {} as Record<Tissue, number[]>;
  for (const [name, [t2, adc]] of Object.entries(TISSUES)) {
    out[name as Tissue] = [t2 * rng.uniform(0.85, 1.15), adc * rng.uniform(0.85, 1.15)];
  }
  return out;
}

/** A smooth random field: random values on a coarse grid (`cell` mm apart), trilinearly upsampled. */
function smoothField(shape: Shape3, spacing: Shape3, cell: number, draw: () => number): Float32Array {
  const coarse = shape.map((n, a) => Math.max(2, Math.ceil((n * spacing[a]) / cell) + 1)) as Shape3;
  const values = new Float32Array(coarse[0] * coarse[1] * coarse[2]);
  for (let i = 0; i < values.length; i++) values[i] = draw();
  const step = shape.map((n, a) => (coarse[a] - 1) / Math.max(n - 1, 1));
  return resampleLinear(values, coarse, 1, shape, step);
}
