import { Packr } from "msgpackr";
import type { z } from "zod";
import { bytesOf } from "./frames.js";

/**
 * Control messages on the wire: frame 0 is a msgpack map, frames 1.. are raw payloads whose byte lengths the
 * map declares in `byteLengths` (messages without that field carry no frames). Decoding never throws: it
 * returns the validated message or the reason it was refused, so a bad peer cannot crash the process.
 */
export interface CodecLimits {
  /** largest msgpack header accepted */
  maxHeaderBytes: number;
  /** largest message, all frames together */
  maxMessageBytes: number;
}

export const DEFAULT_LIMITS: CodecLimits = { maxHeaderBytes: 1 << 20, maxMessageBytes: 512 << 20 };

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export function encodeMessage(message: object, frames: readonly ArrayBufferView[] = []): Buffer[] {
  const declared = (message as { byteLengths?: unknown }).byteLengths;
  const lengths = Array.isArray(declared) ? declared : [];
  if (lengths.length !== frames.length || frames.some((f, i) => f.byteLength !== lengths[i])) {
    throw new RangeError(`control: frames [${frames.map((f) => f.byteLength)}] do not match byteLengths [${lengths}]`);
  }
  return [packr.pack(message), ...frames.map(bytesOf)];
}

export type Decoded<M> = { ok: true; message: M; frames: Buffer[] } | { ok: false; reason: string };

export function decodeMessage<S extends z.ZodType>(
  parts: readonly Buffer[],
  schema: S,
  limits: CodecLimits = DEFAULT_LIMITS,
): Decoded<z.infer<S>> {
  if (parts.length === 0) return { ok: false, reason: "empty message" };
  const total = parts.reduce((sum, p) => sum + p.byteLength, 0);
  if (total > limits.maxMessageBytes)
    return { ok: false, reason: `${total} bytes exceed the limit of ${limits.maxMessageBytes}` };
  const [head, ...frames] = parts;
  if (head.byteLength > limits.maxHeaderBytes) {
    return { ok: false, reason: `header of ${head.byteLength} bytes exceeds the limit of ${limits.maxHeaderBytes}` };
  }
  let raw: unknown;
  try {
    raw = packr.unpack(head);
  } catch (error) {
    return { ok: false, reason: `not msgpack (${(error as Error).message})` };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const type = (raw as { type?: unknown } | null)?.type;
    return {
      ok: false,
      reason: `invalid ${typeof type === "string" ? `'${type.slice(0, 40)}' ` : ""}message: ${issue.path.join(".") || "(root)"}: ${issue.message}`,
    };
  }
  const declared = (parsed.data as { byteLengths?: number[] }).byteLengths ?? [];
  if (declared.length !== frames.length)
    return { ok: false, reason: `${frames.length} frames, ${declared.length} declared` };
  for (let i = 0; i < frames.length; i++) {
    if (frames[i].byteLength !== declared[i])
      return { ok: false, reason: `frame ${i} has ${frames[i].byteLength} bytes, ${declared[i]} declared` };
  }
  return { ok: true, message: parsed.data, frames };
}
