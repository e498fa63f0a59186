import type { CoordinatorMessage, WorkerMessage } from "./messages.js";

/**
 * The run's control channel as each end sees it, typed both ways: what an end sends is what the other's
 * schema accepts (messages.ts). A message that carries raw frames declares their byte lengths, which the
 * links fill in (withByteLengths) and the receiving codec checks.
 */
export interface Link<Send, Receive> {
  send(message: Send, frames?: Uint8Array[]): Promise<void>;
  /** The next message from the other end, with any raw frames that came with it. */
  receive(): Promise<{ message: Receive; frames: Buffer[] }>;
}

export type WorkerLink = Link<WorkerMessage, CoordinatorMessage>;

/** Opaque routing id of one connected worker. */
export type PeerId = string;

/** The coordinator's end talks to many workers: sends name the peer, receives say who sent. */
export interface CoordinatorLink {
  readonly endpoint: string;
  send(peer: PeerId, message: CoordinatorMessage, frames?: Uint8Array[]): Promise<void>;
  /** Registers the one handler of incoming messages (replaces the previous one). */
  onMessage(handler: (peer: PeerId, message: WorkerMessage, frames: Buffer[]) => void): void;
}

/** The message with `byteLengths` for the frames that follow it (unchanged when there are none). */
export function withByteLengths<M extends CoordinatorMessage | WorkerMessage>(message: M, frames: Uint8Array[]): M {
  return frames.length > 0 ? { ...message, byteLengths: frames.map((f) => f.byteLength) } : message;
}
