import { open, readFile, stat } from "node:fs/promises";
import * as nifti from "nifti-reader-js";
import { InputError, inputError } from "../../errors.js";
import { type Affine, bestAffine } from "./affine.js";
import { DATATYPES, datatypeFromCode, type NiftiDatatype, type NiftiTypedArray, swapBytes } from "./datatypes.js";
import { gunzipFile, isGzip } from "./gunzip.js";

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

/** Reads `.nii` or `.nii.gz`; every problem with the file is an InputError naming it. */
export async function readNifti(path: string): Promise<NiftiVolume> {
  const bytes = await readBytes(path);
  return decodeNifti(path, bytes);
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw inputError(path, "not a file");
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw inputError(path, "no such file");
  }
  const head = Buffer.alloc(2);
  const handle = await open(path, "r");
  try {
    await handle.read(head, 0, 2, 0);
  } finally {
    await handle.close();
  }
  if (isGzip(head)) return gunzipFile(path);
  const buffer = await readFile(path);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Decodes a whole uncompressed NIfTI file held in memory. */
export function decodeNifti(path: string, bytes: Uint8Array): NiftiVolume {
  // nifti-reader-js wants an ArrayBuffer that starts with the header; only copy when the bytes do not.
  const buffer = bytes.byteOffset === 0 ? (bytes.buffer as ArrayBuffer) : (bytes.slice().buffer as ArrayBuffer);
  if (bytes.length < 348 || !nifti.isNIFTI(buffer)) throw inputError(path, "not a NIfTI file (no NIfTI-1/2 magic)");
  let header: nifti.NIFTI1 | nifti.NIFTI2;
  try {
    header = nifti.readHeader(buffer);
  } catch (error) {
    throw inputError(path, `unreadable NIfTI header (${(error as Error).message})`);
  }
  const version = nifti.isNIFTI2(buffer) ? 2 : 1;
  const shape = imageShape(path, header.dims);
  const datatype = datatypeFromCode(header.datatypeCode);
  if (!datatype) throw inputError(path, `unsupported NIfTI datatype code ${header.datatypeCode}`);
  const info = DATATYPES[datatype];
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = Number(header.vox_offset);
  const needed = offset + count * info.bytes;
  if (!Number.isFinite(offset) || offset < (version === 1 ? 348 : 540)) {
    throw inputError(path, `bad vox_offset ${header.vox_offset}`);
  }
  if (needed > bytes.length) {
    throw inputError(path, `truncated: ${count} voxels need ${needed} bytes, the file holds ${bytes.length}`);
  }
  const raw = voxelArray(datatype, buffer, offset, count, header.littleEndian);
  const view = new DataView(buffer);
  const { slope, inter } = scaling(path, header.scl_slope, header.scl_inter);
  const spacing: [number, number, number] = [header.pixDims[1] || 1, header.pixDims[2] || 1, header.pixDims[3] || 1];
  const affine = bestAffine({
    sformCode: header.sform_code,
    qformCode: header.qform_code,
    srow: readSrow(view, version, header.littleEndian),
    quatern: [header.quatern_b, header.quatern_c, header.quatern_d],
    qoffset: [header.qoffset_x, header.qoffset_y, header.qoffset_z],
    pixdim: header.pixDims,
    shape,
  });
  let scaled: Float32Array | undefined;
  return {
    path,
    version,
    datatype,
    littleEndian: header.littleEndian,
    shape,
    spacing,
    affine,
    sformCode: header.sform_code,
    qformCode: header.qform_code,
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
