/**
 * The tiny binary header that travels in front of every ring payload frame. The receiver checks each field
 * against what it expects next, so a frame from another run generation, another collective, another step,
 * or of the wrong size is caught before any byte of it is added to the gradients.
 */
export const FrameKind = { allReduce: 1, broadcast: 2, ack: 3 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export const WireType = { f32: 1, f16: 2 } as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

export interface FrameHeader {
  /** ring generation: bumped by the coordinator whenever the ring is rebuilt, so stale peers are ignored */
  generation: number;
  /** sequence number of the collective on this ring (every rank calls collectives in the same order) */
  op: number;
  kind: FrameKind;
  wire: WireType;
  step: number;
  chunk: number;
  /** payload bytes that follow in the next frame */
  bytes: number;
}

const MAGIC = 0x31525856; // "VXR1" little-endian
export const HEADER_BYTES = 24;

export function encodeHeader(h: FrameHeader): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES);
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt32LE(h.generation >>> 0, 4);
  b.writeUInt32LE(h.op >>> 0, 8);
  b.writeUInt8(h.kind, 12);
  b.writeUInt8(h.wire, 13);
  b.writeUInt16LE(h.step, 14);
  b.writeUInt32LE(h.chunk >>> 0, 16);
  b.writeUInt32LE(h.bytes >>> 0, 20);
  return b;
}

/** The header, or a reason why these bytes are not one. */
export function decodeHeader(b: Uint8Array): FrameHeader | string {
  if (b.byteLength !== HEADER_BYTES) return `header of ${b.byteLength} bytes, expected ${HEADER_BYTES}`;
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (v.readUInt32LE(0) !== MAGIC) return "bad magic";
  const kind = v.readUInt8(12);
  const wire = v.readUInt8(13);
  if (kind !== FrameKind.allReduce && kind !== FrameKind.broadcast && kind !== FrameKind.ack)
    return `unknown kind ${kind}`;
  if (wire !== WireType.f32 && wire !== WireType.f16) return `unknown wire type ${wire}`;
  return {
    generation: v.readUInt32LE(4),
    op: v.readUInt32LE(8),
    kind,
    wire,
    step: v.readUInt16LE(14),
    chunk: v.readUInt32LE(16),
    bytes: v.readUInt32LE(20),
  };
}
