import { ControlClient } from "../comm/control.js";
import type { RunKeys } from "../comm/security.js";
import { type WorkerLink, withByteLengths } from "../protocol/link.js";
import { coordinatorMessageSchema, type WorkerMessage } from "../protocol/messages.js";

/**
 * The worker's end of the control channel: comm's ControlClient speaking the run's vocabulary, remembering
 * when the coordinator was last heard (for the worker's own watch on a silent coordinator).
 */
export async function openWorkerLink(options: {
  endpoint: string;
  keys?: RunKeys;
  onHandshakeFailure?: (reason: string) => void;
}): Promise<WorkerLink & { lastHeard: number; close(): void }> {
  const client = await ControlClient.connect<typeof coordinatorMessageSchema, WorkerMessage>(options.endpoint, {
    keys: options.keys,
    schema: coordinatorMessageSchema,
    onHandshakeFailure: options.onHandshakeFailure,
  });
  const incoming = client[Symbol.asyncIterator]();
  const link = {
    lastHeard: Date.now(),
    send: (message: WorkerMessage, frames: Uint8Array[] = []) => client.send(withByteLengths(message, frames), frames),
    receive: async () => {
      const next = await incoming.next();
      if (next.done) throw new Error("the control channel closed");
      link.lastHeard = Date.now();
      return { message: next.value.message, frames: next.value.frames };
    },
    close: () => client.close(),
  };
  return link;
}
