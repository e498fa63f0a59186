import { crc32 } from "node:zlib";

/**
 * CRC-32 of the bytes of a typed array, for the divergence check every K steps: ranks that applied the same
 * updates hold bitwise equal weights, so equal checksums are expected and any difference means divergence.
 * zlib's native crc32 runs at memory speed, which matters for 22 MB of weights.
 */
export function checksum(data: ArrayBufferView): number {
  return crc32(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) >>> 0;
}
