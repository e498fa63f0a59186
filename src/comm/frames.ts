/**
 * Views between raw ZeroMQ frames (Buffers) and typed arrays. A received frame may start at any byte
 * offset inside its memory; a Float32Array needs 4-byte alignment, so a misaligned frame is copied once
 * into fresh memory the caller then owns.
 */

/** A Buffer over the bytes of `data`, sharing its memory (ZeroMQ sends Buffers over 128 bytes without a copy). */
export function bytesOf(data: ArrayBufferView): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** The frame as a Float32Array, sharing memory when aligned. Throws if the length is not a multiple of 4. */
export function float32View(frame: Uint8Array): Float32Array {
  if (frame.byteLength % 4 !== 0) throw new RangeError(`frame of ${frame.byteLength} bytes is not float32 data`);
  if (frame.byteOffset % 4 === 0) return new Float32Array(frame.buffer, frame.byteOffset, frame.byteLength / 4);
  const copy = new Float32Array(frame.byteLength / 4);
  new Uint8Array(copy.buffer).set(frame);
  return copy;
}

/** The frame as a Uint16Array (half floats), sharing memory when aligned. */
export function uint16View(frame: Uint8Array): Uint16Array {
  if (frame.byteLength % 2 !== 0) throw new RangeError(`frame of ${frame.byteLength} bytes is not float16 data`);
  if (frame.byteOffset % 2 === 0) return new Uint16Array(frame.buffer, frame.byteOffset, frame.byteLength / 2);
  const copy = new Uint16Array(frame.byteLength / 2);
  new Uint8Array(copy.buffer).set(frame);
  return copy;
}
