/**
 * Which control messages the session may act on: only those of a peer that joined this generation (its hello
 * came on this routing id, over a CURVE-authenticated connection), speaking as the rank it was assigned. A
 * message from a routing id that never said hello, a second hello, or a rank claimed that is not the
 * sender's own is dropped and counted, never acted upon: a `failed` or `state` that a peer forges for
 * another rank must not end the run or become a checkpoint.
 */
import { printablePeerId } from "../comm/refusals.js";
import type { WorkerMessage } from "../protocol/messages.js";

/** The session's record of a joined peer, as far as the guard needs it. */
export interface JoinedPeer {
  /** -1 until assigned */
  rank: number;
}

/** Dropped messages are logged this many times, then counted only (a flood must not flood the log). */
const LOGGED_DROPS = 5;

export class PeerGuard {
  /** Messages dropped so far in this generation. */
  dropped = 0;

  constructor(private readonly log: (line: string) => void) {}

  /** True when the session may act on `message` from `peer` (undefined: a routing id that never joined). */
  admit(peer: JoinedPeer | undefined, message: WorkerMessage, from: string): boolean {
    const problem = refusal(peer, message);
    if (problem === null) return true;
    this.dropped++;
    if (this.dropped <= LOGGED_DROPS) {
      const more = this.dropped === LOGGED_DROPS ? " (further drops are counted only)" : "";
      this.log(
        `control: dropped a ${message.type} message from peer ${printablePeerId(Buffer.from(from, "latin1"))}: ${problem}${more}`,
      );
    }
    return false;
  }
}

export function refusal(peer: JoinedPeer | undefined, message: WorkerMessage): string | null {
  if (!peer) return message.type === "hello" ? null : "the sender never joined this generation";
  if (message.type === "hello") return "the sender already joined";
  // -1 (a heartbeat) or null (a failure) is a worker that has not received its assignment yet.
  if (message.rank !== -1 && message.rank !== null && message.rank !== peer.rank) {
    return `it claims rank ${message.rank}, the sender joined as rank ${peer.rank}`;
  }
  return null;
}
