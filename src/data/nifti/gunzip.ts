import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { inputError } from "../../errors.js";

const CHUNK = 1 << 20;

/**
 * Inflates a .gz file straight from disk into one buffer sized from the gzip trailer (ISIZE), so a large
 * volume is neither held twice compressed-and-inflated nor concatenated from chunks at the end. ISIZE is only
 * a hint (it is modulo 2^32 and counts the last member only), so the buffer still grows if it was wrong.
 * Returns the bytes; `bytes.buffer` may be longer than `bytes.length`.
 */
export async function gunzipFile(path: string): Promise<Uint8Array> {
  let out = new Uint8Array(Math.max(await gzipSizeHint(path), 1024));
  let length = 0;
  const sink = new Writable({
    highWaterMark: CHUNK,
    write(chunk: Buffer, _encoding, done) {
      if (length + chunk.length > out.length) {
        const grown = new Uint8Array(Math.max(out.length * 2, length + chunk.length));
        grown.set(out.subarray(0, length));
        out = grown;
      }
      out.set(chunk, length);
      length += chunk.length;
      done();
    },
  });
  try {
    await pipeline(createReadStream(path, { highWaterMark: CHUNK }), createGunzip({ chunkSize: CHUNK }), sink);
  } catch (error) {
    throw gzipError(path, error);
  }
  return out.subarray(0, length);
}

async function gzipSizeHint(path: string): Promise<number> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    if (size < 18) return 0;
    const trailer = Buffer.alloc(4);
    await handle.read(trailer, 0, 4, size - 4);
    const hint = trailer.readUInt32LE(0);
    // A corrupt trailer must not make us allocate gigabytes: deflate rarely exceeds 1:1032.
    return hint <= size * 1032 ? hint : 0;
  } finally {
    await handle.close();
  }
}

function gzipError(path: string, error: unknown): Error {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === "Z_BUF_ERROR" || /unexpected end/i.test(message)) return inputError(path, "truncated gzip data");
  if (code?.startsWith("Z_")) return inputError(path, `corrupt gzip data (${message})`);
  if (code === "ENOENT") return inputError(path, "no such file");
  return error instanceof Error ? error : new Error(message);
}

/** True when the first two bytes are the gzip magic. */
export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}
