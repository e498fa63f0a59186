import { ControlClient } from "../comm/control.js";
import type { RunKeys } from "../comm/security.js";
import { coordinatorMessageSchema } from "../protocol/messages.js";
import type { WorkerLink } from "./loop.js";

/**
 * The worker's end of the control channel: comm's ControlClient speaking the run's vocabulary, remembering
 * when the coordinator was last heard (for the worker's own watch on a silent coordinator).
 */
export async function openWorkerLink(options: {
  endpoint: string;
  keys?: RunKeys;
}): Promise<WorkerLink & { lastHeard: number; close(): void }> {
  const client = await ControlClient.connect(options.endpoint, {
    keys: options.keys,
    schema: coordinatorMessageSchema,
  });
  const incoming = client[Symbol.asyncIterator]();
  const link = {
    lastHeard: Date.now(),
    send: async (message: Parameters<WorkerLink["send"]>[0], frames: Uint8Array[] = []) => {
      const withLengths = frames.length > 0 ? { ...message, byteLengths: frames.map((f) => f.byteLength) } : message;
      // The schema types what this end receives (the coordinator's messages); the coordinator checks these.
      await client.send(withLengths as never, frames);
    },
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
