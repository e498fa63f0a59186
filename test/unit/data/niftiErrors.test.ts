import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { encodeNifti, readNifti } from "../../../src/data/nifti/index.js";
import { InputError } from "../../../src/errors.js";
import { tempDir } from "./helpers.js";

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const good = encodeNifti("x.nii", { shape: [5, 4, 3], data: new Float32Array(60).map((_, i) => i * 0.5 - 7) });

describe("readNifti rejects bad files with an InputError naming the file", () => {
  const cases: [string, string, Uint8Array | null, RegExp][] = [
    ["missing file", "missing.nii.gz", null, /no such file/],
    ["truncated gzip", "truncated.nii.gz", gzipSync(good).subarray(0, 60), /truncated gzip/],
    [
      "corrupt gzip",
      "corrupt.nii.gz",
      Uint8Array.from([0x1f, 0x8b, 8, 0, ...new Array(40).fill(0x55)]),
      /corrupt gzip|truncated gzip/,
    ],
    [
      "not a NIfTI (text)",
      "text.nii",
      new TextEncoder().encode("hello, this is not an image at all ".repeat(20)),
      /not a NIfTI/,
    ],
    ["not a NIfTI (gzip of text)", "text.nii.gz", gzipSync(new TextEncoder().encode("x".repeat(1000))), /not a NIfTI/],
    ["voxels cut short", "short.nii", good.subarray(0, good.length - 8), /truncated: 60 voxels/],
    ["unsupported datatype", "rgb.nii", withInt16(good, 70, 128), /unsupported NIfTI datatype code 128/],
    ["too many dimensions", "6d.nii", withDims(good, [6, 5, 4, 3, 1, 2, 2]), /6D images are not supported/],
    ["negative dimension", "neg.nii", withDims(good, [3, 5, -4, 3]), /bad dimensions/],
  ];
  for (const [what, name, bytes, message] of cases) {
    it(what, async () => {
      const path = join(dir, name);
      if (bytes) writeFileSync(path, bytes);
      const error = await readNifti(path).catch((e) => e);
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toContain(path);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain("\n");
    });
  }

  it("reads the good file the bad ones were made from", async () => {
    const path = join(dir, "good.nii");
    writeFileSync(path, good);
    const v = await readNifti(path);
    expect(v.shape).toEqual([5, 4, 3]);
    expect(Array.from(v.data.subarray(0, 3))).toEqual([-7, -6.5, -6]);
  });
});

function withInt16(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setInt16(offset, value, true);
  return copy;
}

function withDims(bytes: Uint8Array, dims: number[]): Uint8Array {
  const copy = bytes.slice();
  const view = new DataView(copy.buffer);
  for (let i = 0; i < 8; i++) view.setInt16(40 + i * 2, dims[i] ?? 1, true);
  return copy;
}
