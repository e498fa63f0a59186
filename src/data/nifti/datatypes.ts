/** NIfTI datatype codes this reader and writer handle, with their typed-array constructors. */
export type NiftiDatatype = "uint8" | "int8" | "int16" | "uint16" | "int32" | "uint32" | "float32" | "float64";

export type NiftiTypedArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

interface DatatypeInfo {
  code: number;
  bytes: number;
  integer: boolean;
  min: number;
  max: number;
  create: (buffer: ArrayBufferLike, byteOffset: number, length: number) => NiftiTypedArray;
  alloc: (length: number) => NiftiTypedArray;
}

export const DATATYPES: Record<NiftiDatatype, DatatypeInfo> = {
  uint8: {
    code: 2,
    bytes: 1,
    integer: true,
    min: 0,
    max: 255,
    create: (b, o, n) => new Uint8Array(b, o, n),
    alloc: (n) => new Uint8Array(n),
  },
  int16: {
    code: 4,
    bytes: 2,
    integer: true,
    min: -32768,
    max: 32767,
    create: (b, o, n) => new Int16Array(b, o, n),
    alloc: (n) => new Int16Array(n),
  },
  int32: {
    code: 8,
    bytes: 4,
    integer: true,
    min: -2147483648,
    max: 2147483647,
    create: (b, o, n) => new Int32Array(b, o, n),
    alloc: (n) => new Int32Array(n),
  },
  float32: {
    code: 16,
    bytes: 4,
    integer: false,
    min: -Infinity,
    max: Infinity,
    create: (b, o, n) => new Float32Array(b, o, n),
    alloc: (n) => new Float32Array(n),
  },
  float64: {
    code: 64,
    bytes: 8,
    integer: false,
    min: -Infinity,
    max: Infinity,
    create: (b, o, n) => new Float64Array(b, o, n),
    alloc: (n) => new Float64Array(n),
  },
  int8: {
    code: 256,
    bytes: 1,
    integer: true,
    min: -128,
    max: 127,
    create: (b, o, n) => new Int8Array(b, o, n),
    alloc: (n) => new Int8Array(n),
  },
  uint16: {
    code: 512,
    bytes: 2,
    integer: true,
    min: 0,
    max: 65535,
    create: (b, o, n) => new Uint16Array(b, o, n),
    alloc: (n) => new Uint16Array(n),
  },
  uint32: {
    code: 768,
    bytes: 4,
    integer: true,
    min: 0,
    max: 4294967295,
    create: (b, o, n) => new Uint32Array(b, o, n),
    alloc: (n) => new Uint32Array(n),
  },
};

export function datatypeFromCode(code: number): NiftiDatatype | undefined {
  for (const [name, info] of Object.entries(DATATYPES)) if (info.code === code) return name as NiftiDatatype;
  return undefined;
}

/** Reverses the byte order of each `bytes`-wide element in place (big-endian files on a little-endian host). */
export function swapBytes(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}
