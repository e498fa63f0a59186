/**
 * The NIfTI reader against hostile input: a seeded property test over mutants of small valid files (every
 * read either yields a self-consistent volume or throws an InputError naming the file, nothing else), and
 * the targeted cases behind it: a gzip bomb, an honest header over too little data, the size limit, bad
 * spacing and affines.
 */
import { createWriteStream, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { createGzip, gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import type { NiftiDatatype } from "../../../src/data/nifti/datatypes.js";
import { encodeNifti, type NiftiVolume, readNifti } from "../../../src/data/nifti/index.js";
import { DEFAULT_MAX_NIFTI_BYTES, maxNiftiBytes } from "../../../src/data/nifti/read.js";
import { InputError } from "../../../src/errors.js";
import { Rng } from "../../../src/random.js";
import { tempDir } from "./helpers.js";

const dir = tempDir("voxring-fuzz-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Far above every seed file: memory stays small by construction whatever a mutated header claims. */
const FUZZ_LIMIT = 1 << 20;

interface Seed {
  name: string;
  bytes: Uint8Array;
}

function seedFile(name: string, shape: number[], datatype: NiftiDatatype, slope = 1, inter = 0): Seed {
  const count = shape.reduce((a, b) => a * b, 1);
  const rng = new Rng(count);
  const data = Array.from({ length: count }, () => Math.round(rng.uniform(0, 100)) * slope + inter);
  const affine = [
    [0.7, 0.1, 0, -20],
    [-0.1, 0.7, 0, 10],
    [0, 0, 3, 5],
    [0, 0, 0, 1],
  ];
  return { name, bytes: encodeNifti(name, { shape, data, datatype, affine, slope, inter }) };
}

const seeds: Seed[] = [
  seedFile("u8", [6, 5, 4], "uint8"),
  seedFile("i16scaled", [5, 4, 3], "int16", 0.5, -3),
  seedFile("f32_4d", [4, 3, 2, 2], "float32"),
  seedFile("f64", [3, 3, 3], "float64"),
];

/** Header fields worth hitting with special values: [offset, kind]. */
const FIELDS: [number, "i16" | "f32"][] = [
  ...Array.from({ length: 8 }, (_, i) => [40 + i * 2, "i16"] as [number, "i16"]), // dim[0..7]
  [70, "i16"], // datatype
  [72, "i16"], // bitpix
  ...Array.from({ length: 8 }, (_, i) => [76 + i * 4, "f32"] as [number, "f32"]), // pixdim[0..7]
  [108, "f32"], // vox_offset
  [112, "f32"], // scl_slope
  [116, "f32"], // scl_inter
  [252, "i16"], // qform_code
  [254, "i16"], // sform_code
  ...Array.from({ length: 6 }, (_, i) => [256 + i * 4, "f32"] as [number, "f32"]), // quatern, qoffset
  ...Array.from({ length: 12 }, (_, i) => [280 + i * 4, "f32"] as [number, "f32"]), // srow_x/y/z
];
const SPECIAL_I16 = [0, 1, -1, 2, 3, 4, 7, 8, 16, 64, 128, 255, 256, 512, 768, 1024, 32767, -32768];
const SPECIAL_F32 = [0, -0, 1, -1, 0.5, 347, 348, 352, 352.5, 1e-30, 1e30, 3.4e38, Infinity, -Infinity, Number.NaN];

type Mutation = (bytes: Uint8Array, rng: Rng) => Uint8Array;

const mutations: Record<string, Mutation> = {
  "random header bytes": (bytes, rng) => {
    const out = bytes.slice();
    for (let k = 1 + rng.int(4); k > 0; k--) out[rng.int(352)] = rng.int(256);
    return out;
  },
  "special field value": (bytes, rng) => {
    const out = bytes.slice();
    const view = new DataView(out.buffer);
    const [offset, kind] = FIELDS[rng.int(FIELDS.length)];
    if (kind === "i16") view.setInt16(offset, SPECIAL_I16[rng.int(SPECIAL_I16.length)], true);
    else view.setFloat32(offset, SPECIAL_F32[rng.int(SPECIAL_F32.length)], true);
    return out;
  },
  "random field value": (bytes, rng) => {
    const out = bytes.slice();
    const view = new DataView(out.buffer);
    const [offset, kind] = FIELDS[rng.int(FIELDS.length)];
    if (kind === "i16") view.setInt16(offset, rng.int(65536) - 32768, true);
    else view.setUint32(offset, rng.nextUint32(), true);
    return out;
  },
  truncated: (bytes, rng) => bytes.slice(0, rng.int(bytes.length)),
  "trailing bytes": (bytes, rng) => {
    const out = new Uint8Array(bytes.length + 1 + rng.int(64));
    out.set(bytes);
    return out;
  },
  "random data bytes": (bytes, rng) => {
    const out = bytes.slice();
    for (let k = 1 + rng.int(8); k > 0; k--) out[352 + rng.int(out.length - 352)] = rng.int(256);
    return out;
  },
};

/** What a successful read must satisfy, whatever the header said. */
function expectSelfConsistent(v: NiftiVolume): void {
  expect(v.shape.length === 3 || v.shape.length === 4).toBe(true);
  for (const n of v.shape) expect(Number.isInteger(n) && n >= 1).toBe(true);
  const voxels = v.shape[0] * v.shape[1] * v.shape[2];
  const channels = v.shape[3] ?? 1;
  expect(v.raw.length).toBe(voxels * channels);
  expect(v.data).toBeInstanceOf(Float32Array);
  expect(v.data.length).toBe(voxels * channels);
  for (const s of v.spacing) expect(Number.isFinite(s) && s > 0).toBe(true);
  expect(v.affine.length).toBe(4);
  for (const row of v.affine) for (const x of row) expect(Number.isFinite(x)).toBe(true);
  expect(v.affine[3]).toEqual([0, 0, 0, 1]);
  expect(Number.isFinite(v.slope) && v.slope !== 0 && Number.isFinite(v.inter)).toBe(true);
}

async function expectInputError(path: string, read: Promise<unknown>, message?: RegExp): Promise<InputError> {
  const error = await read.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `${path} was accepted`).toBeInstanceOf(InputError);
  const e = error as InputError;
  expect(e.message).toContain(path);
  expect(e.message).not.toContain("\n");
  if (message) expect(e.message).toMatch(message);
  return e;
}

describe("readNifti on seeded mutants of valid files: a consistent volume or an InputError naming the file", () => {
  const MUTANTS_PER_SEED = 50;
  for (const [index, seed] of seeds.entries()) {
    for (const gz of [false, true]) {
      const ext = gz ? ".nii.gz" : ".nii";
      it(`${seed.name}${ext}: ${MUTANTS_PER_SEED} mutants`, { timeout: 30_000 }, async () => {
        const rng = new Rng(1000 + index * 2 + Number(gz));
        const names = Object.keys(mutations);
        const outcomes = { accepted: 0, rejected: 0 };
        const reasons = new Set<string>();
        // The unmutated seed reads back: the mutants start from a valid file.
        const original = join(dir, `${seed.name}${ext}`);
        writeFileSync(original, gz ? gzipSync(seed.bytes) : seed.bytes);
        expectSelfConsistent(await readNifti(original, { maxBytes: FUZZ_LIMIT }));
        for (let m = 0; m < MUTANTS_PER_SEED; m++) {
          const name = names[rng.int(names.length)];
          let bytes = mutations[name](seed.bytes, rng);
          if (gz) {
            bytes = gzipSync(bytes, { level: 1 });
            // a quarter of the .gz mutants also get a flipped byte in the compressed stream
            if (rng.next() < 0.25) bytes[10 + rng.int(bytes.length - 10)] ^= 1 << rng.int(8);
          }
          const path = join(dir, `${seed.name}-${m}-${name.replaceAll(" ", "_")}${ext}`);
          writeFileSync(path, bytes);
          const result = await readNifti(path, { maxBytes: FUZZ_LIMIT }).then(
            (volume) => ({ volume }),
            (error: unknown) => ({ error }),
          );
          if ("volume" in result) {
            expectSelfConsistent(result.volume);
            outcomes.accepted++;
          } else {
            expect(result.error, `${name} on ${path}: ${String(result.error)}`).toBeInstanceOf(InputError);
            const message = (result.error as InputError).message;
            expect(message).toContain(path);
            expect(message).not.toContain("\n");
            reasons.add(
              message
                .slice(path.length + 2)
                .replace(/[\d.e+-]+/g, "#")
                .slice(0, 30),
            );
            outcomes.rejected++;
          }
          rmSync(path);
        }
        // Not vacuous: the mutants hit both outcomes, and the rejections more than one check.
        expect(outcomes.accepted).toBeGreaterThan(0);
        expect(outcomes.rejected).toBeGreaterThan(MUTANTS_PER_SEED / 5);
        expect(reasons.size).toBeGreaterThan(2);
      });
    }
  }
});

/** Largest growth of ArrayBuffer memory seen while `work` runs (sampled between its chunks). */
async function peakArrayBuffers<T>(work: () => Promise<T>): Promise<{ result: T | unknown; peak: number }> {
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
  }, 1);
  try {
    const result = await work().catch((e: unknown) => e);
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    return { result, peak };
  } finally {
    clearInterval(timer);
  }
}

/** Writes header + `zeros` bytes of zeros as gzip, streaming (64 MiB of zeros is ~64 KB compressed). */
async function gzipBomb(path: string, header: Uint8Array, zeros: number): Promise<void> {
  const gz = createGzip({ level: 9 });
  const out = gz.pipe(createWriteStream(path));
  gz.write(header);
  const block = Buffer.alloc(1 << 20);
  for (let left = zeros; left > 0; left -= block.length) {
    if (!gz.write(block.subarray(0, Math.min(block.length, left)))) await new Promise((r) => gz.once("drain", r));
  }
  gz.end();
  await finished(out);
}

function withField(bytes: Uint8Array, offset: number, kind: "i16" | "f32", value: number): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  if (kind === "i16") view.setInt16(offset, value, true);
  else view.setFloat32(offset, value, true);
  return out;
}

describe("readNifti: bounded by the header", () => {
  const small = encodeNifti("h.nii", { shape: [16, 16, 8], data: new Uint8Array(16 * 16 * 8) });

  it("a gzip bomb (header 16×16×8 uint8, 64 MiB of payload) fails at once without inflating the payload", async () => {
    const path = join(dir, "bomb.nii.gz");
    await gzipBomb(path, small, 64 << 20);
    const { result, peak } = await peakArrayBuffers(() => readNifti(path));
    await expectInputError(path, Promise.reject(result), /inflates past the 2400 bytes its header describes/);
    expect(peak).toBeLessThan(16 << 20);
  });

  it("an honest 2 GiB header over 2 MB of gzip data is found short without allocating gigabytes", async () => {
    const header = small.slice(0, 352);
    const view = new DataView(header.buffer);
    for (const [i, d] of [3, 1024, 1024, 512].entries()) view.setInt16(40 + i * 2, d, true);
    view.setInt16(70, 16, true); // float32
    view.setInt16(72, 32, true);
    const payload = new Uint8Array(2 << 20);
    const rng = new Rng(3);
    for (let i = 0; i < payload.length; i++) payload[i] = rng.int(256);
    const gz = gzipSync(Buffer.concat([header, payload]), { level: 1 });
    const path = join(dir, "short2g.nii.gz");
    writeFileSync(path, gz);
    const { result, peak } = await peakArrayBuffers(() => readNifti(path));
    await expectInputError(path, Promise.reject(result), /truncated: 536870912 voxels need 2147484000 bytes/);
    expect(peak).toBeLessThan(128 << 20);
    // The gzip trailer claiming the full size changes nothing: it is only believed up to 16× the file.
    gz.writeUInt32LE(2 ** 31 + 352, gz.length - 4);
    writeFileSync(path, gz);
    const lied = await peakArrayBuffers(() => readNifti(path));
    await expectInputError(path, Promise.reject(lied.result));
    expect(lied.peak).toBeLessThan(128 << 20);
  });

  it("a header over the size limit is refused before reading, naming the limit and how to raise it", async () => {
    for (const ext of [".nii", ".nii.gz"]) {
      const path = join(dir, `limit${ext}`);
      writeFileSync(path, ext === ".nii" ? small : gzipSync(small));
      await expectInputError(
        path,
        readNifti(path, { maxBytes: 2000 }),
        /describes 2400 bytes .*over the 2000 bytes limit on NIfTI files; set VOXRING_MAX_NIFTI_BYTES/,
      );
      expect((await readNifti(path, { maxBytes: 2400 })).shape).toEqual([16, 16, 8]);
    }
  });

  it("VOXRING_MAX_NIFTI_BYTES: bytes or K/M/G/T (powers of 1024); anything else names the variable", () => {
    expect(maxNiftiBytes({})).toBe(DEFAULT_MAX_NIFTI_BYTES);
    expect(maxNiftiBytes({ VOXRING_MAX_NIFTI_BYTES: "123456" })).toBe(123456);
    expect(maxNiftiBytes({ VOXRING_MAX_NIFTI_BYTES: "8GiB" })).toBe(8 * 2 ** 30);
    expect(maxNiftiBytes({ VOXRING_MAX_NIFTI_BYTES: "512m" })).toBe(512 * 2 ** 20);
    for (const bad of ["lots", "-5", "0", "1.5G", "8 PB"]) {
      expect(() => maxNiftiBytes({ VOXRING_MAX_NIFTI_BYTES: bad })).toThrow(
        /^VOXRING_MAX_NIFTI_BYTES: must be a positive number of bytes/,
      );
    }
  });

  const bad: [string, Uint8Array, RegExp][] = [
    [
      "short voxel data",
      small.slice(0, small.length - 100),
      /truncated: 2048 voxels need 2400 bytes, the file holds 2300/,
    ],
    ["trailing data", Buffer.concat([small, new Uint8Array(10)]), /header describes 2400/],
    ["pixdim = inf", withField(small, 80, "f32", Infinity), /bad voxel spacing pixdim\[1\] = Infinity/],
    ["pixdim negative", withField(small, 84, "f32", -0.5), /bad voxel spacing pixdim\[2\] = -0.5/],
    ["pixdim zero", withField(small, 88, "f32", 0), /bad voxel spacing pixdim\[3\] = 0/],
    ["pixdim NaN", withField(small, 80, "f32", Number.NaN), /bad voxel spacing pixdim\[1\] = NaN/],
    [
      "NaN in the sform",
      withField(small, 284, "f32", Number.NaN),
      /non-finite voxel-to-world affine \(from the sform\)/,
    ],
    [
      "infinite qoffset, qform only",
      withField(withField(small, 254, "i16", 0), 268, "f32", Infinity),
      /non-finite voxel-to-world affine \(from the qform\)/,
    ],
    ["singular sform", withField(small, 280, "f32", 0), /singular voxel-to-world affine/],
    ["zero dimension", withField(small, 44, "i16", 0), /bad dimensions 16×0×8/],
    ["fractional vox_offset", withField(small, 108, "f32", 352.5), /bad vox_offset 352.5/],
  ];
  for (const [what, bytes, message] of bad) {
    for (const ext of [".nii", ".nii.gz"]) {
      it(`${what} (${ext}): InputError naming the file`, async () => {
        const path = join(dir, `${what.replaceAll(" ", "_")}${ext}`);
        writeFileSync(path, ext === ".nii" ? bytes : gzipSync(bytes));
        await expectInputError(
          path,
          readNifti(path),
          ext === ".nii.gz" && what === "trailing data" ? /inflates past the 2400 bytes/ : message,
        );
      });
    }
  }
});
