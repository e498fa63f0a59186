import * as zmq from "zeromq";
import type { z } from "zod";
import { type CodecLimits, DEFAULT_LIMITS, decodeMessage, encodeMessage } from "./codec.js";
import { printablePeerId, RefusalLog } from "./refusals.js";
import { type RunKeys, requireKeysFor, secureClient, secureServer } from "./security.js";
import { SerialSender } from "./serialSend.js";

/**
 * The control channel: one ROUTER on the coordinator, one DEALER per worker, msgpack maps validated by the
 * zod schema of what this end receives (the run's vocabulary is src/protocol), raw frames beside them for
 * weights. `Send` types what this end sends, which the other end's schema checks. A malformed, oversized or
 * unknown message is logged and skipped; it never ends the iteration or the process.
 *
 *   const server = await ControlServer.listen<typeof workerMessageSchema, CoordinatorMessage>(endpoint, { schema });
 *   for await (const { from, message, frames } of server) { ...; await server.send(from, reply); }
 *
 *   const client = await ControlClient.connect<typeof coordinatorMessageSchema, WorkerMessage>(endpoint, { schema });
 *   await client.send({ type: "hello", host, pid, localIndex });
 *   for await (const { message } of client) { ... }
 */
export interface ControlOptions<S extends z.ZodType> {
  /** CURVE keys of the run: required when the endpoint is beyond loopback */
  keys?: RunKeys;
  /** the vocabulary this end accepts */
  schema: S;
  limits?: Partial<CodecLimits>;
  /** where refused messages are reported (a few per window, then a count); default one line on stderr */
  log?: (line: string) => void;
  /** a send that cannot be queued within this time fails (a peer that is gone never blocks us); default 2000 */
  sendTimeoutMs?: number;
}

export interface Incoming<M> {
  /** the sender's routing id (opaque; pass it back to ControlServer.send) */
  from: string;
  message: M;
  frames: Buffer[];
}

abstract class ControlSocket<S extends z.ZodType> {
  /** messages refused so far (malformed, oversized, unknown type) */
  rejected = 0;
  protected readonly schema: S;
  protected readonly limits: CodecLimits;
  protected readonly sender: SerialSender;
  private readonly refusals: RefusalLog;

  protected constructor(
    protected readonly socket: zmq.Router | zmq.Dealer,
    options: ControlOptions<S>,
  ) {
    this.schema = options.schema;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.sender = new SerialSender(socket);
    this.refusals = new RefusalLog(options.log ?? ((line) => process.stderr.write(`${line}\n`)));
  }

  close(): void {
    this.refusals.flush();
    this.socket.close();
  }

  /** Yields valid messages until the socket closes; refused ones are counted and logged. */
  protected async *messages(withSender: boolean): AsyncGenerator<Incoming<z.infer<S>>> {
    while (!this.socket.closed) {
      let parts: Buffer[];
      try {
        parts = await this.socket.receive();
      } catch (error) {
        if (this.socket.closed || (error as { code?: string }).code === "EBADF") return;
        throw error;
      }
      const id = withSender ? (parts.shift() ?? Buffer.alloc(0)) : null;
      const from = id ? id.toString("latin1") : "";
      const decoded = decodeMessage(parts, this.schema, this.limits);
      if (decoded.ok) {
        yield { from, message: decoded.message, frames: decoded.frames };
      } else {
        this.rejected++;
        this.refusals.refused(id ? printablePeerId(id) : null, decoded.reason);
      }
    }
  }
}

function socketOptions(options: ControlOptions<z.ZodType>) {
  return {
    // ZeroMQ drops the connection of a peer that sends a frame over this size before it reaches us, counting
    // CURVE's 33-byte box around each frame. No frame of a valid message exceeds the limit less its msgpack
    // header, so this holds today; the slack keeps the codec's limit (which logs) the one that refuses.
    maxMessageSize: { ...DEFAULT_LIMITS, ...options.limits }.maxMessageBytes + (64 << 10),
    linger: 2000,
    // Without it a send to a peer that is gone (ROUTER, mandatory) or never came (DEALER) waits forever.
    sendTimeout: options.sendTimeoutMs ?? 2000,
  };
}

export class ControlServer<S extends z.ZodType, Send extends object = object> extends ControlSocket<S> {
  private constructor(
    socket: zmq.Router,
    readonly endpoint: string,
    options: ControlOptions<S>,
  ) {
    super(socket, options);
  }

  /** Binds the coordinator's socket; port 0 picks a free port (see `endpoint`). */
  static async listen<S extends z.ZodType, Send extends object = object>(
    endpoint: string,
    options: ControlOptions<S>,
  ): Promise<ControlServer<S, Send>> {
    requireKeysFor([endpoint], options.keys, "control endpoint");
    // mandatory: a send to a worker that is gone fails instead of vanishing silently
    const socket = new zmq.Router({ ...socketOptions(options), mandatory: true });
    secureServer(socket, options.keys);
    try {
      await socket.bind(endpoint.replace(/:0$/, ":*"));
    } catch (error) {
      socket.close();
      throw error;
    }
    return new ControlServer<S, Send>(socket, socket.lastEndpoint ?? endpoint, options);
  }

  send(to: string, message: Send, frames: readonly ArrayBufferView[] = []): Promise<void> {
    return this.sender.send([Buffer.from(to, "latin1"), ...encodeMessage(message, frames)]);
  }

  [Symbol.asyncIterator](): AsyncGenerator<Incoming<z.infer<S>>> {
    return this.messages(true);
  }
}

export class ControlClient<S extends z.ZodType, Send extends object = object> extends ControlSocket<S> {
  private constructor(socket: zmq.Dealer, options: ControlOptions<S>) {
    super(socket, options);
  }

  static async connect<S extends z.ZodType, Send extends object = object>(
    endpoint: string,
    options: ControlOptions<S> & {
      routingId?: string;
      /**
       * Called once when the security handshake failed three times in a row without ever succeeding: the
       * keys are not the server's (another run's key file), or one end speaks CURVE and the other not.
       * ZeroMQ itself would retry silently forever.
       */
      onHandshakeFailure?: (reason: string) => void;
    },
  ): Promise<ControlClient<S, Send>> {
    requireKeysFor([endpoint], options.keys, "coordinator endpoint");
    const socket = new zmq.Dealer({
      ...socketOptions(options),
      ...(options.routingId ? { routingId: options.routingId } : {}),
    });
    secureClient(socket, options.keys);
    if (options.onHandshakeFailure) watchHandshakes(socket, options.onHandshakeFailure);
    socket.connect(endpoint);
    return new ControlClient<S, Send>(socket, options);
  }

  send(message: Send, frames: readonly ArrayBufferView[] = []): Promise<void> {
    return this.sender.send(encodeMessage(message, frames));
  }

  [Symbol.asyncIterator](): AsyncGenerator<Incoming<z.infer<S>>> {
    return this.messages(false);
  }
}

/** Reports a handshake that keeps failing (see ControlClient.connect); silent once one has succeeded. */
function watchHandshakes(socket: zmq.Dealer, onFailure: (reason: string) => void): void {
  void (async () => {
    let failures = 0;
    try {
      for await (const event of socket.events) {
        if (event.type === "handshake") return;
        if (!event.type.startsWith("handshake:error")) continue;
        if (++failures < 3) continue;
        const code =
          "error" in event && event.error ? ` (${(event.error as { code?: string }).code ?? event.error.message})` : "";
        onFailure(`the security handshake failed ${failures} times${code}: wrong keys for this coordinator`);
        return;
      }
    } catch {
      // the socket closed while we watched
    }
  })();
}
