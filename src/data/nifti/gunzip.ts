import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { InputError, inputError } from "../../errors.js";

const CHUNK = 1 << 20;
/** First buffer when the gzip trailer gives no believable size: most Task05 volumes fit in it at once. */
const FIRST_BUFFER = 16 << 20;
/** ISIZE is believed up to this many times the compressed size (MRI voxels deflate ~2-4:1, labels more). */
const HINT_RATIO = 16;

/**
 * Says how many inflated bytes the file should hold, judging from the first bytes inflated so far (`head`),
 * or undefined while it needs more of them; `complete` is true once the stream has ended and then it must
 * answer (or throw). It may throw InputError (a bad header, a size over a limit) and inflating stops there.
 */
export type ExtentOf = (head: Uint8Array, complete: boolean) => number | undefined;

export interface Inflated {
  /** The inflated bytes, at most the extent; fewer when the stream ended early. */
  bytes: Uint8Array;
  /** The extent `extentOf` answered. */
  extent: number;
  /** True when the stream went on past the extent (inflating stopped at the first chunk beyond it). */
  excess: boolean;
}

/**
 * Inflates a .gz file straight from disk, bounded by what its own header says it holds: `extentOf` reads the
 * first inflated bytes, and inflating stops as soon as the output passes that extent, so a gzip bomb (a small
 * header, gigabytes of payload) costs one chunk, not gigabytes. Memory follows the data actually inflated:
 * the buffer starts at the gzip trailer's ISIZE only when that is believable (it is modulo 2^32 and anyone
 * can write it), else small, and doubles up to the extent; an honest 2 GiB header over 2 MB of data fails at
 * about 2 MB. `bytes.buffer` may be longer than `bytes.length`.
 */
export async function gunzipBounded(path: string, extentOf: ExtentOf): Promise<Inflated> {
  const hint = await gzipSizeHint(path);
  let out = new Uint8Array(0);
  let length = 0;
  let extent: number | undefined;
  let excess = false;
  /** Set when we stop the stream ourselves: pipeline then rejects with an AbortError that means nothing. */
  let stopped: { error: unknown } | undefined;

  const reserve = (needed: number) => {
    if (needed <= out.length) return;
    const cap = extent ?? Number.POSITIVE_INFINITY;
    const first = extent === undefined ? 0 : Math.max(FIRST_BUFFER, hint);
    const grown = new Uint8Array(Math.min(cap, Math.max(needed, out.length * 2, first)));
    grown.set(out.subarray(0, length));
    out = grown;
  };
  const take = (chunk: Uint8Array) => {
    const room = extent === undefined ? chunk.length : Math.min(chunk.length, extent - length);
    reserve(length + room);
    out.set(chunk.subarray(0, room), length);
    length += room;
    if (room < chunk.length) excess = true;
  };

  try {
    await pipeline(
      createReadStream(path, { highWaterMark: CHUNK }),
      createGunzip({ chunkSize: CHUNK }),
      async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) {
          if (extent === undefined) {
            // Until the header is complete only its few hundred bytes (and one chunk) are held.
            take(chunk);
            try {
              extent = extentOf(out.subarray(0, length), false);
            } catch (error) {
              stopped = { error };
              throw error;
            }
            if (extent !== undefined && length > extent) {
              length = extent;
              excess = true;
            }
          } else {
            take(chunk);
          }
          if (excess) {
            stopped = { error: null };
            return;
          }
        }
      },
    );
  } catch (error) {
    if (stopped?.error) throw stopped.error;
    if (!stopped) throw gzipError(path, error);
  }
  extent ??= extentOf(out.subarray(0, length), true) ?? length;
  return { bytes: out.subarray(0, length), extent, excess };
}

/** The gzip trailer's ISIZE when it is believable for this file's compressed size, else 0. */
async function gzipSizeHint(path: string): Promise<number> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw gzipError(path, error);
  }
  try {
    const { size } = await handle.stat();
    if (size < 18) return 0;
    const trailer = Buffer.alloc(4);
    await handle.read(trailer, 0, 4, size - 4);
    const hint = trailer.readUInt32LE(0);
    return hint <= size * HINT_RATIO ? hint : 0;
  } finally {
    await handle.close();
  }
}

function gzipError(path: string, error: unknown): Error {
  if (error instanceof InputError) return error;
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === "Z_BUF_ERROR" || /unexpected end/i.test(message)) return inputError(path, "truncated gzip data");
  if (code?.startsWith("Z_")) return inputError(path, `corrupt gzip data (${message})`);
  if (code === "ENOENT") return inputError(path, "no such file");
  if (code === "EACCES" || code === "EISDIR") return inputError(path, `cannot read (${code})`);
  return error instanceof Error ? error : new Error(message);
}

/** True when the first two bytes are the gzip magic. */
export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}
