import { ControlServer } from "../comm/control.js";
import type { RunKeys } from "../comm/security.js";
import { inputError } from "../errors.js";
import { type CoordinatorLink, withByteLengths } from "../protocol/link.js";
import { type CoordinatorMessage, workerMessageSchema } from "../protocol/messages.js";

/**
 * The coordinator's end of the control channel: comm's ControlServer speaking the run's vocabulary
 * (src/protocol). Sends never throw (a worker that is gone is the session's business, noticed by its exit
 * or its silence).
 */
export async function openCoordinatorLink(options: {
  bind: string;
  port: number;
  keys?: RunKeys;
}): Promise<CoordinatorLink & { close(): void }> {
  const host = options.bind.includes(":") ? `[${options.bind}]` : options.bind;
  const server = await ControlServer.listen<typeof workerMessageSchema, CoordinatorMessage>(
    `tcp://${host}:${options.port}`,
    { keys: options.keys, schema: workerMessageSchema },
  ).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "EADDRINUSE")
      throw inputError(
        "--port",
        `port ${options.port} on ${options.bind} is already in use (choose another, or 0 for any)`,
      );
    if (error.code === "EADDRNOTAVAIL") throw inputError("--bind", `${options.bind} is not an address of this host`);
    throw error;
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
      await server.send(peer, withByteLengths(message, frames), frames).catch(() => {});
    },
    close: () => server.close(),
  };
}
