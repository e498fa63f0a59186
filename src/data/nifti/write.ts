import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { writeFileAtomic } from "../../atomicWrite.js";
import { inputError } from "../../errors.js";
import { type Affine, qformFromAffine, spacingAffine } from "./affine.js";
import { DATATYPES, type NiftiDatatype, type NiftiTypedArray } from "./datatypes.js";

const gzipAsync = promisify(gzip);
const HEADER_BYTES = 352; // 348-byte NIfTI-1 header + 4 bytes of "no extension"

export interface NiftiWriteInput {
  /** X Y Z, then T (channels) for a 4D image */
  shape: readonly number[];
  /** Scaled values in file order (x fastest, then y, z, then the 4th dimension). */
  data: ArrayLike<number>;
  /** Default: from the data's array type (Float32Array → float32, Uint8Array → uint8, ...), else float32. */
  datatype?: NiftiDatatype;
  /** Voxel-to-world; default the diagonal of `spacing` (default 1 mm). Written as sform and as qform. */
  affine?: Affine;
  spacing?: readonly number[];
  /** Stored = (value − inter) / slope, rounded for integer datatypes. Default 1 and 0. */
  slope?: number;
  inter?: number;
  description?: string;
  /** gzip level for .nii.gz (1 fastest … 9 smallest). Default 6. */
  level?: number;
}

/**
 * Writes NIfTI-1, gzip-compressed when the path ends in .gz, atomically (temp file, fsync, rename) so a
 * reader never sees half a file. sform and qform both carry the affine (codes 1, scanner), pixdim its
 * column norms, so nibabel and other readers agree on the geometry.
 */
export async function writeNifti(path: string, volume: NiftiWriteInput): Promise<void> {
  const bytes = encodeNifti(path, volume);
  const out = path.endsWith(".gz") ? await gzipAsync(bytes, { level: volume.level ?? 6 }) : bytes;
  writeFileAtomic(path, out);
}

export function encodeNifti(path: string, volume: NiftiWriteInput): Uint8Array {
  const shape = [...volume.shape];
  if (shape.length < 3 || shape.length > 4 || shape.some((n) => !Number.isInteger(n) || n < 1 || n > 32767)) {
    throw inputError(path, `cannot write shape ${shape.join("×")} (3D or 4D, sides 1..32767)`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (volume.data.length !== count) {
    throw inputError(path, `data holds ${volume.data.length} values, shape ${shape.join("×")} needs ${count}`);
  }
  const datatype = volume.datatype ?? datatypeOf(volume.data);
  const info = DATATYPES[datatype];
  const slope = volume.slope ?? 1;
  const inter = volume.inter ?? 0;
  if (slope === 0 || !Number.isFinite(slope) || !Number.isFinite(inter)) {
    throw inputError(path, `bad scaling slope ${slope}, inter ${inter}`);
  }
  const affine = volume.affine ?? spacingAffine(volume.spacing ?? [1, 1, 1]);
  const buffer = new ArrayBuffer(HEADER_BYTES + count * info.bytes);
  writeHeader(new DataView(buffer), shape, datatype, affine, slope, inter, volume.description ?? "voxring");
  fillVoxels(info.create(buffer, HEADER_BYTES, count), volume.data, info.integer, info.min, info.max, slope, inter);
  return new Uint8Array(buffer);
}

function datatypeOf(data: ArrayLike<number>): NiftiDatatype {
  if (data instanceof Uint8Array) return "uint8";
  if (data instanceof Int8Array) return "int8";
  if (data instanceof Int16Array) return "int16";
  if (data instanceof Uint16Array) return "uint16";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof Uint32Array) return "uint32";
  if (data instanceof Float64Array) return "float64";
  return "float32";
}

function fillVoxels(
  out: NiftiTypedArray,
  data: ArrayLike<number>,
  integer: boolean,
  min: number,
  max: number,
  slope: number,
  inter: number,
): void {
  const identity = slope === 1 && inter === 0;
  if (!integer) {
    if (identity && ArrayBuffer.isView(data)) out.set(data as unknown as ArrayLike<number>);
    else for (let i = 0; i < data.length; i++) out[i] = (data[i] - inter) / slope;
    return;
  }
  for (let i = 0; i < data.length; i++) {
    const v = Math.round(identity ? data[i] : (data[i] - inter) / slope);
    out[i] = Number.isNaN(v) ? 0 : Math.min(Math.max(v, min), max);
  }
}

function writeHeader(
  view: DataView,
  shape: number[],
  datatype: NiftiDatatype,
  affine: Affine,
  slope: number,
  inter: number,
  description: string,
): void {
  const le = true;
  const info = DATATYPES[datatype];
  const q = qformFromAffine(affine);
  view.setInt32(0, 348, le);
  view.setInt16(40, shape.length, le);
  for (let i = 0; i < 7; i++) view.setInt16(42 + i * 2, shape[i] ?? 1, le);
  view.setInt16(70, info.code, le);
  view.setInt16(72, info.bytes * 8, le);
  const pixdim = [q.qfac, ...q.zooms, 1, 1, 1, 1];
  for (let i = 0; i < 8; i++) view.setFloat32(76 + i * 4, pixdim[i], le);
  view.setFloat32(108, HEADER_BYTES, le);
  view.setFloat32(112, slope, le);
  view.setFloat32(116, inter, le);
  view.setUint8(123, 2 | 8); // mm, seconds
  writeString(view, 148, 80, description);
  view.setInt16(252, 1, le); // qform_code: scanner
  view.setInt16(254, 1, le); // sform_code: scanner
  for (let i = 0; i < 3; i++) view.setFloat32(256 + i * 4, q.quatern[i], le);
  for (let i = 0; i < 3; i++) view.setFloat32(268 + i * 4, q.qoffset[i], le);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) view.setFloat32(280 + (r * 4 + c) * 4, affine[r][c], le);
  writeString(view, 344, 4, "n+1");
}

function writeString(view: DataView, offset: number, size: number, text: string): void {
  const bytes = Buffer.from(text, "latin1").subarray(0, size - 1);
  for (let i = 0; i < bytes.length; i++) view.setUint8(offset + i, bytes[i]);
}
