import { open, stat } from "node:fs/promises";
import * as nifti from "nifti-reader-js";
import { InputError, inputError } from "../../errors.js";
import { type Affine, bestAffine } from "./affine.js";
import { DATATYPES, datatypeFromCode, type NiftiDatatype, type NiftiTypedArray, swapBytes } from "./datatypes.js";
import { gunzipBounded, isGzip } from "./gunzip.js";

/**
 * A NIfTI-1 or NIfTI-2 image as stored: voxels in file order (x fastest, then y, z, then the 4th dimension,
 * i.e. one channel after another), the stored values in `raw` and the scaled ones in `data`.
 */
export interface NiftiVolume {
  path: string;
  version: 1 | 2;
  datatype: NiftiDatatype;
  littleEndian: boolean;
  /** X Y Z, then T (channels) when the image is 4D */
  shape: number[];
  /** pixdim[1..3] */
  spacing: [number, number, number];
  affine: Affine;
  sformCode: number;
  qformCode: number;
  /** Effective scaling: 1 and 0 when the header has none (scl_slope 0 or not finite). */
  slope: number;
  inter: number;
  /** Stored values, native byte order. */
  raw: NiftiTypedArray;
  /** Scaled values (raw·slope + inter) as float32, computed on first use; `raw` itself when float32 unscaled. */
  readonly data: Float32Array;
}

/** Number of channels (the 4th dimension; 1 for a 3D image). */
export function channelCount(volume: Pick<NiftiVolume, "shape">): number {
  return volume.shape[3] ?? 1;
}

/** The default of VOXRING_MAX_NIFTI_BYTES: 4 GiB, header and voxels (why: README, "Limits"). */
export const DEFAULT_MAX_NIFTI_BYTES = 2 ** 32;
const MAX_BYTES_VARIABLE = "VOXRING_MAX_NIFTI_BYTES";

export interface ReadOptions {
  /** Largest file (vox_offset + voxel bytes, as its header describes it) to read; default maxNiftiBytes(). */
  maxBytes?: number;
}

/**
 * The size limit on a NIfTI file's header-described contents: VOXRING_MAX_NIFTI_BYTES (a byte count, or
 * with a K/M/G/T suffix in powers of 1024, e.g. 8G or 8GiB), else DEFAULT_MAX_NIFTI_BYTES.
 */
export function maxNiftiBytes(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[MAX_BYTES_VARIABLE]?.trim();
  if (!text) return DEFAULT_MAX_NIFTI_BYTES;
  const match = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text);
  const bytes = match ? Number(match[1]) * 1024 ** " kmgt".indexOf(match[2].toLowerCase() || " ") : Number.NaN;
  if (!(Number.isSafeInteger(bytes) && bytes > 0)) {
    throw inputError(MAX_BYTES_VARIABLE, `must be a positive number of bytes (e.g. 8589934592 or 8GiB), got "${text}"`);
  }
  return bytes;
}

/**
 * Reads `.nii` or `.nii.gz`; every problem with the file is an InputError naming it. Memory is bounded by the
 * header: a file whose header describes more than `maxBytes` is refused before anything is allocated, and
 * one that holds (or inflates to) more than its header describes is refused as soon as that shows.
 */
export async function readNifti(path: string, options: ReadOptions = {}): Promise<NiftiVolume> {
  const maxBytes = options.maxBytes ?? maxNiftiBytes();
  const handle = await openFile(path);
  let size: number;
  const head = new Uint8Array(MAX_HEADER_BYTES);
  let headLength: number;
  try {
    size = (await handle.stat()).size;
    headLength = (await handle.read(head, 0, head.length, 0)).bytesRead;
  } finally {
    await handle.close();
  }
  if (isGzip(head.subarray(0, headLength))) {
    let layout: NiftiLayout | undefined;
    const inflated = await gunzipBounded(path, (bytes, complete) => {
      layout = parseHeader(path, bytes, complete, maxBytes);
      return layout?.extent;
    });
    if (!layout) throw inputError(path, "not a NIfTI file (no NIfTI-1/2 header)");
    if (inflated.excess) {
      throw inputError(
        path,
        `inflates past the ${layout.extent} bytes its header describes (${describe(layout)}); stopped there: a corrupt header or a decompression bomb`,
      );
    }
    return volumeOf(path, layout, inflated.bytes);
  }
  const layout = parseHeader(path, head.subarray(0, headLength), true, maxBytes) as NiftiLayout;
  if (size > layout.extent) {
    throw inputError(
      path,
      `is ${size} bytes, its header describes ${layout.extent} (${describe(layout)}): a corrupt header or trailing data`,
    );
  }
  return volumeOf(path, layout, await readPrefix(path, size));
}

async function openFile(path: string) {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw inputError(path, "not a file");
    return await open(path, "r");
  } catch (error) {
    if (error instanceof InputError) throw error;
    const code = (error as { code?: string }).code;
    throw inputError(path, code === "ENOENT" ? "no such file" : `cannot read (${code ?? String(error)})`);
  }
}

/** The first `length` bytes of a file into one buffer of exactly that size (fs reads are capped at 2 GiB). */
async function readPrefix(path: string, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  const handle = await open(path, "r");
  try {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(out, done, Math.min(length - done, 1 << 30), done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return out.subarray(0, done);
  } finally {
    await handle.close();
  }
}

/** Decodes a whole uncompressed NIfTI file held in memory. */
export function decodeNifti(path: string, bytes: Uint8Array): NiftiVolume {
  const layout = parseHeader(path, bytes, true, Number.POSITIVE_INFINITY) as NiftiLayout;
  if (bytes.length > layout.extent) {
    throw inputError(path, `holds ${bytes.length} bytes, its header describes ${layout.extent} (${describe(layout)})`);
  }
  // The voxel views want a buffer that starts with the header; only copy when the bytes do not.
  return volumeOf(path, layout, bytes.byteOffset === 0 ? bytes : bytes.slice());
}

const NIFTI1_HEADER_BYTES = 348;
const NIFTI2_HEADER_BYTES = 540;
const MAX_HEADER_BYTES = NIFTI2_HEADER_BYTES;

/** A checked header: everything needed to size, read and decode the voxels that follow it. */
interface NiftiLayout {
  version: 1 | 2;
  datatype: NiftiDatatype;
  littleEndian: boolean;
  shape: number[];
  count: number;
  /** vox_offset: where the voxels start (after the header and any extensions) */
  offset: number;
  /** offset + voxel bytes: what the file must hold */
  extent: number;
  spacing: [number, number, number];
  affine: Affine;
  sformCode: number;
  qformCode: number;
  slope: number;
  inter: number;
}

function describe(layout: NiftiLayout): string {
  return `${layout.shape.join("×")} ${layout.datatype} from byte ${layout.offset}`;
}

/**
 * Checks a header from the first bytes of a file. Returns undefined while `head` is shorter than the header
 * (unless `complete`: then there is no more). Throws InputError for anything that would make the voxels
 * meaningless or unbounded: no magic, bad dims or datatype, a vox_offset before the header's end, a size over
 * `maxBytes`, spacing that is not positive and finite, a non-finite or singular affine, non-finite scaling.
 */
function parseHeader(path: string, head: Uint8Array, complete: boolean, maxBytes: number): NiftiLayout | undefined {
  const notNifti = (why: string) => inputError(path, `not a NIfTI file (${why})`);
  if (head.length < 4) {
    if (complete) throw notNifti(`${head.length} bytes`);
    return undefined;
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const sizes = [view.getInt32(0, true), view.getInt32(0, false)];
  const version = sizes.includes(NIFTI1_HEADER_BYTES) ? 1 : sizes.includes(NIFTI2_HEADER_BYTES) ? 2 : undefined;
  if (!version) throw notNifti("no NIfTI-1/2 header: sizeof_hdr is neither 348 nor 540");
  const headerBytes = version === 1 ? NIFTI1_HEADER_BYTES : NIFTI2_HEADER_BYTES;
  if (head.length < headerBytes) {
    if (complete) throw notNifti(`${head.length} bytes, shorter than a NIfTI-${version} header`);
    return undefined;
  }
  const magicAt = version === 1 ? 344 : 4;
  const magic = String.fromCharCode(...head.subarray(magicAt, magicAt + 3));
  if (magic === `ni${version}`) throw inputError(path, "a .hdr/.img pair header: only single-file .nii is read");
  if (magic !== `n+${version}`) throw notNifti(`no NIfTI-${version} magic`);
  // Exactly the fixed header: nifti-reader-js then skips extensions (we need none, and its extension walk
  // trusts their sizes), and never sees the data, so it cannot try to inflate anything itself.
  const buffer = head.slice(0, headerBytes).buffer as ArrayBuffer;
  let header: nifti.NIFTI1 | nifti.NIFTI2;
  try {
    header = nifti.readHeader(buffer);
  } catch (error) {
    throw inputError(path, `unreadable NIfTI header (${(error as Error).message})`);
  }
  const littleEndian = header.littleEndian;
  const shape = imageShape(path, header.dims);
  const datatype = datatypeFromCode(header.datatypeCode);
  if (!datatype) throw inputError(path, `unsupported NIfTI datatype code ${header.datatypeCode}`);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = Number(header.vox_offset);
  if (!Number.isSafeInteger(offset) || offset < headerBytes) {
    throw inputError(path, `bad vox_offset ${header.vox_offset} (must be a whole byte offset ≥ ${headerBytes})`);
  }
  const extent = offset + count * DATATYPES[datatype].bytes;
  if (!(extent <= maxBytes)) {
    throw inputError(
      path,
      `its header describes ${formatBytes(extent)} (${shape.join("×")} ${datatype} from byte ${offset}), over the ${formatBytes(maxBytes)} limit on NIfTI files; set ${MAX_BYTES_VARIABLE} (e.g. 16GiB) to raise it`,
    );
  }
  const spacing = voxelSpacing(path, Number(header.dims[0]), header.pixDims);
  const affine = bestAffine({
    sformCode: header.sform_code,
    qformCode: header.qform_code,
    srow: readSrow(new DataView(buffer), version, littleEndian),
    quatern: [header.quatern_b, header.quatern_c, header.quatern_d],
    qoffset: [header.qoffset_x, header.qoffset_y, header.qoffset_z],
    // pixdim as checked: qform and base affine scale by the spacing, qfac stays pixdim[0]
    pixdim: [Number(header.pixDims[0]), ...spacing],
    shape,
  });
  checkAffine(path, affine, header.sform_code !== 0 ? "sform" : header.qform_code !== 0 ? "qform" : "pixdim");
  const { slope, inter } = scaling(path, header.scl_slope, header.scl_inter);
  return {
    version,
    datatype,
    littleEndian,
    shape,
    count,
    offset,
    extent,
    spacing,
    affine,
    sformCode: header.sform_code,
    qformCode: header.qform_code,
    slope,
    inter,
  };
}

/** pixdim[1..3]: positive and finite on every axis the image has; an axis it lacks (2D) counts as 1 mm. */
function voxelSpacing(path: string, ndim: number, pixdim: number[]): [number, number, number] {
  const spacing: [number, number, number] = [1, 1, 1];
  for (let axis = 0; axis < 3; axis++) {
    const p = Number(pixdim[axis + 1]);
    if (Number.isFinite(p) && p > 0) spacing[axis] = p;
    else if (axis < ndim)
      throw inputError(path, `bad voxel spacing pixdim[${axis + 1}] = ${p} (must be positive and finite)`);
  }
  return spacing;
}

function checkAffine(path: string, affine: Affine, source: string): void {
  const rows = affine.slice(0, 3);
  if (rows.some((row) => row.some((v) => !Number.isFinite(v)))) {
    throw inputError(path, `non-finite voxel-to-world affine (from the ${source}): ${JSON.stringify(rows)}`);
  }
  const [a, b, c] = rows;
  const det =
    a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) + a[2] * (b[0] * c[1] - b[1] * c[0]);
  if (!(Math.abs(det) > 0) || !Number.isFinite(det)) {
    throw inputError(path, `singular voxel-to-world affine (from the ${source}): voxels would have no extent`);
  }
}

/** Exact below 1 MiB, else e.g. "4 GiB (4294967296 bytes)": the figure to compare and the one to type. */
function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 2 ** 20) return `${bytes} bytes`;
  const units = ["MiB", "GiB", "TiB", "PiB", "EiB"];
  let unit = 0;
  while (bytes / 2 ** (20 + 10 * unit) >= 1024 && unit < units.length - 1) unit++;
  return `${Number((bytes / 2 ** (20 + 10 * unit)).toPrecision(4))} ${units[unit]} (${bytes} bytes)`;
}

/** The volume over a file's bytes (which start with the header); InputError when they are too few. */
function volumeOf(path: string, layout: NiftiLayout, bytes: Uint8Array): NiftiVolume {
  const { count, offset, extent, datatype, slope, inter } = layout;
  if (extent > bytes.length) {
    throw inputError(path, `truncated: ${count} voxels need ${extent} bytes, the file holds ${bytes.length}`);
  }
  const raw = voxelArray(datatype, bytes.buffer as ArrayBuffer, offset, count, layout.littleEndian);
  let scaled: Float32Array | undefined;
  return {
    path,
    version: layout.version,
    datatype,
    littleEndian: layout.littleEndian,
    shape: layout.shape,
    spacing: layout.spacing,
    affine: layout.affine,
    sformCode: layout.sformCode,
    qformCode: layout.qformCode,
    slope,
    inter,
    raw,
    get data() {
      scaled ??= scaleToFloat32(raw, slope, inter);
      return scaled;
    },
  };
}

/** 3D and 4D images; nibabel's X×Y×Z×1×C vector layout counts as 4D. */
function imageShape(path: string, dims: number[]): number[] {
  const ndim = Number(dims[0]);
  if (!(ndim >= 1 && ndim <= 7)) throw inputError(path, `bad dim[0] ${dims[0]}`);
  const all = Array.from({ length: ndim }, (_, i) => Number(dims[i + 1]));
  if (all.some((n) => !Number.isInteger(n) || n < 1)) throw inputError(path, `bad dimensions ${all.join("×")}`);
  while (all.length > 3 && all[all.length - 1] === 1) all.pop();
  if (all.length === 5 && all[3] === 1) all.splice(3, 1);
  if (all.length > 4) throw inputError(path, `${all.length}D images are not supported (3D or 4D only)`);
  while (all.length < 3) all.push(1);
  return all;
}

function voxelArray(
  datatype: NiftiDatatype,
  buffer: ArrayBuffer,
  offset: number,
  count: number,
  littleEndian: boolean,
): NiftiTypedArray {
  const info = DATATYPES[datatype];
  const nativeLittle = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const swap = littleEndian !== nativeLittle && info.bytes > 1;
  if (offset % info.bytes === 0 && !swap) return info.create(buffer, offset, count);
  // Misaligned or foreign byte order: one copy into an aligned buffer, swapped there.
  const copy = new Uint8Array(buffer, offset, count * info.bytes).slice();
  if (swap) swapBytes(copy, info.bytes);
  return info.create(copy.buffer, 0, count);
}

function readSrow(view: DataView, version: 1 | 2, little: boolean): number[][] {
  const rows: number[][] = [];
  for (let r = 0; r < 3; r++) {
    const row: number[] = [];
    for (let c = 0; c < 4; c++) {
      row.push(
        version === 1 ? view.getFloat32(280 + (r * 4 + c) * 4, little) : view.getFloat64(400 + (r * 4 + c) * 8, little),
      );
    }
    rows.push(row);
  }
  return rows;
}

function scaling(path: string, slope: number, inter: number): { slope: number; inter: number } {
  if (slope === 0 || !Number.isFinite(slope)) return { slope: 1, inter: 0 };
  if (!Number.isFinite(inter)) throw inputError(path, `scl_slope ${slope} with a non-finite scl_inter ${inter}`);
  return { slope, inter };
}

function scaleToFloat32(raw: NiftiTypedArray, slope: number, inter: number): Float32Array {
  if (raw instanceof Float32Array && slope === 1 && inter === 0) return raw;
  const out = new Float32Array(raw.length);
  if (slope === 1 && inter === 0) {
    out.set(raw);
    return out;
  }
  for (let i = 0; i < raw.length; i++) out[i] = raw[i] * slope + inter;
  return out;
}
