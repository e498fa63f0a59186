import { ControlServer } from "../comm/control.js";
import type { RunKeys } from "../comm/security.js";
import { workerMessageSchema } from "../protocol/messages.js";
import type { CoordinatorLink } from "./session.js";

/**
 * The coordinator's end of the control channel: comm's ControlServer speaking the run's vocabulary
 * (protocol.ts). Sends never throw (a worker that is gone is the session's business, noticed by its exit
 * or its silence), and frames get their declared byte lengths here, once.
 */
export async function openCoordinatorLink(options: {
  bind: string;
  port: number;
  keys?: RunKeys;
}): Promise<CoordinatorLink & { close(): void }> {
  const host = options.bind.includes(":") ? `[${options.bind}]` : options.bind;
  const server = await ControlServer.listen(`tcp://${host}:${options.port}`, {
    keys: options.keys,
    schema: workerMessageSchema,
  });
  let handler: Parameters<CoordinatorLink["onMessage"]>[0] = () => {};
  void (async () => {
    for await (const { from, message, frames } of server) handler(from, message, frames);
  })();
  return {
    endpoint: server.endpoint,
    onMessage: (h) => {
      handler = h;
    },
    send: async (peer, message, frames = []) => {
      const withLengths = frames.length > 0 ? { ...message, byteLengths: frames.map((f) => f.byteLength) } : message;
      // The schema types what this end receives (workers' messages); what it sends is checked by the workers.
      await server.send(peer, withLengths as never, frames).catch(() => {});
    },
    close: () => server.close(),
  };
}
