import { describe, expect, it } from "vitest";
import { keepLargestComponent } from "../../../src/data/largestComponent.js";
import type { Shape3 } from "../../../src/data/volume.js";
import { Rng } from "../../../src/random.js";

/** An inclusive box [x0, x1] × [y0, y1] × [z0, z1] painted with one class. */
interface Blob {
  from: Shape3;
  to: Shape3;
  value: number;
}

function paint(shape: Shape3, blobs: Blob[]): Uint8Array {
  const [X, Y] = shape;
  const out = new Uint8Array(shape[0] * shape[1] * shape[2]);
  for (const { from, to, value } of blobs) {
    for (let z = from[2]; z <= to[2]; z++)
      for (let y = from[1]; y <= to[1]; y++) for (let x = from[0]; x <= to[0]; x++) out[(z * Y + y) * X + x] = value;
  }
  return out;
}

const blob = (from: Shape3, to: Shape3, value = 1): Blob => ({ from, to, value });

interface Case {
  name: string;
  shape: Shape3;
  blobs: Blob[];
  connectivity?: 6 | 26;
  /** Indices into `blobs` of the ones that must survive, class values and all. */
  keep: number[];
}

const cases: Case[] = [
  {
    // Each class alone (8 voxels) is smaller than the lone blob (12); together (16) they are the largest.
    name: "two touching classes form one component that beats a larger single-class blob",
    shape: [10, 8, 6],
    blobs: [blob([0, 0, 0], [1, 1, 1], 1), blob([2, 0, 0], [3, 1, 1], 2), blob([6, 5, 3], [8, 6, 4], 1)],
    keep: [0, 1],
  },
  {
    name: "the larger of two separate blobs survives with its classes",
    shape: [9, 9, 9],
    blobs: [blob([1, 1, 1], [2, 2, 2], 2), blob([5, 5, 5], [7, 7, 7], 1), blob([5, 5, 4], [7, 7, 4], 2)],
    keep: [1, 2],
  },
  {
    name: "corner-only contact is two components under 6-connectivity",
    shape: [6, 6, 6],
    blobs: [blob([0, 0, 0], [1, 1, 1], 1), blob([2, 2, 2], [2, 2, 2], 2)],
    keep: [0],
  },
  {
    name: "corner-only contact is one component under 26-connectivity",
    shape: [6, 6, 6],
    blobs: [blob([0, 0, 0], [1, 1, 1], 1), blob([2, 2, 2], [2, 2, 2], 2)],
    connectivity: 26,
    keep: [0, 1],
  },
  {
    name: "edge-only contact is two components under 6-connectivity",
    shape: [5, 6, 4],
    blobs: [blob([0, 0, 0], [1, 1, 3], 1), blob([2, 2, 0], [2, 2, 1], 1)],
    keep: [0],
  },
  {
    name: "edge-only contact is one component under 26-connectivity",
    shape: [5, 6, 4],
    blobs: [blob([0, 0, 0], [1, 1, 3], 1), blob([2, 2, 0], [2, 2, 1], 1)],
    connectivity: 26,
    keep: [0, 1],
  },
  {
    name: "odd sizes: a blob along the far borders survives",
    shape: [7, 5, 9],
    blobs: [blob([4, 2, 5], [6, 4, 8], 2), blob([0, 0, 0], [1, 1, 1], 1), blob([3, 0, 2], [3, 0, 2], 1)],
    keep: [0],
  },
  {
    name: "odd sizes: a small blob on the border is removed",
    shape: [7, 5, 9],
    blobs: [blob([6, 4, 8], [6, 4, 8], 1), blob([2, 1, 2], [4, 3, 5], 1), blob([0, 0, 0], [0, 4, 0], 2)],
    keep: [1],
  },
  {
    name: "a blob filling a whole x row wraps no neighbour across rows",
    // Index order would make (X-1, y) and (0, y+1) adjacent in memory; they are not neighbours in space.
    shape: [5, 4, 3],
    blobs: [blob([0, 1, 1], [4, 1, 1], 1), blob([0, 2, 1], [0, 2, 1], 2), blob([3, 3, 2], [4, 3, 2], 1)],
    keep: [0, 1],
  },
  {
    name: "an empty map stays empty",
    shape: [7, 5, 9],
    blobs: [],
    keep: [],
  },
];

describe("keepLargestComponent", () => {
  it.each(cases)("$name", ({ shape, blobs, connectivity, keep }) => {
    const labels = paint(shape, blobs);
    const before = labels.slice();
    const out = keepLargestComponent(labels, shape, { connectivity });
    expect(out).not.toBe(labels);
    expect(labels).toEqual(before);
    expect(out).toEqual(
      paint(
        shape,
        keep.map((k) => blobs[k]),
      ),
    );
  });

  it.each([6, 26] as const)("matches label propagation on random odd-sized maps (%i-connectivity)", (connectivity) => {
    const rng = new Rng(connectivity);
    for (const shape of [
      [7, 5, 9],
      [3, 11, 4],
      [1, 1, 13],
    ] as Shape3[]) {
      for (let trial = 0; trial < 5; trial++) {
        const labels = new Uint8Array(shape[0] * shape[1] * shape[2]);
        for (let i = 0; i < labels.length; i++) labels[i] = rng.next() < 0.3 ? 1 + rng.int(2) : 0;
        const out = keepLargestComponent(labels, shape, { connectivity });
        expect(out).toEqual(referenceLargest(labels, shape, connectivity));
        expect(out.some((v) => v !== 0)).toBe(labels.some((v) => v !== 0));
      }
    }
  });

  it("refuses a label map that does not fill the shape", () => {
    expect(() => keepLargestComponent(new Uint8Array(10), [2, 2, 2])).toThrow(/10 labels do not fill a 2×2×2/);
  });
});

/**
 * A different algorithm for the same answer: every foreground voxel repeatedly takes the smallest index among
 * itself and its neighbours until nothing changes, so each component ends up named by its smallest voxel index;
 * ties go to the smallest name, i.e. the component met first in index order.
 */
function referenceLargest(labels: Uint8Array, [X, Y, Z]: Shape3, connectivity: 6 | 26): Uint8Array {
  const at = (x: number, y: number, z: number) => (z * Y + y) * X + x;
  const name = new Int32Array(labels.length).fill(-1);
  for (let v = 0; v < labels.length; v++) if (labels[v] !== 0) name[v] = v;
  for (let changed = true; changed; ) {
    changed = false;
    for (let z = 0; z < Z; z++)
      for (let y = 0; y < Y; y++)
        for (let x = 0; x < X; x++) {
          const v = at(x, y, z);
          if (name[v] < 0) continue;
          for (let dz = -1; dz <= 1; dz++)
            for (let dy = -1; dy <= 1; dy++)
              for (let dx = -1; dx <= 1; dx++) {
                const far = Math.abs(dx) + Math.abs(dy) + Math.abs(dz);
                if (far === 0 || (connectivity === 6 && far > 1)) continue;
                const [nx, ny, nz] = [x + dx, y + dy, z + dz];
                if (nx < 0 || ny < 0 || nz < 0 || nx >= X || ny >= Y || nz >= Z) continue;
                const u = at(nx, ny, nz);
                if (name[u] >= 0 && name[u] < name[v]) {
                  name[v] = name[u];
                  changed = true;
                }
              }
        }
  }
  const sizes = new Map<number, number>();
  for (const n of name) if (n >= 0) sizes.set(n, (sizes.get(n) ?? 0) + 1);
  let best = -1;
  let bestSize = 0;
  for (const [n, size] of [...sizes].sort((a, b) => a[0] - b[0])) {
    if (size > bestSize) [best, bestSize] = [n, size];
  }
  return labels.map((v, i) => (name[i] === best && best >= 0 ? v : 0));
}
