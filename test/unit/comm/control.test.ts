import { pack } from "msgpackr";
import { afterEach, describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { z } from "zod";
import { ControlClient, ControlServer, type Incoming } from "../../../src/comm/control.js";
import { generateRunKeys } from "../../../src/comm/security.js";

const toClose: { close(): void }[] = [];
afterEach(() => {
  for (const s of toClose.splice(0)) s.close();
});

function track<T extends { close(): void }>(s: T): T {
  toClose.push(s);
  return s;
}

/**
 * Reads an async iterable with a deadline. A read that times out stays pending and is handed to the next
 * call, so no message is lost to a read nobody awaits any more.
 */
function inbox<T>(iterable: AsyncIterable<T>): (ms: number) => Promise<T | "timeout"> {
  const it = iterable[Symbol.asyncIterator]();
  let pending: Promise<T | "timeout"> | undefined;
  return async (ms) => {
    pending ??= it.next().then((r) => (r.done ? ("timeout" as const) : r.value));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), ms);
    });
    const result = await Promise.race([pending.then((v) => ({ v })), timeout]);
    clearTimeout(timer);
    if (result === "timeout") return "timeout";
    pending = undefined;
    return result.v;
  };
}

/** A vocabulary of this test's own: the channel is generic over the schema it is given. */
const text = (max: number) => z.string().max(max);
const testMessage = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("hello"),
    host: text(255),
    pid: z.number().int(),
    gpus: z.number().int(),
    ringEndpoint: text(512).optional(),
  }),
  z.object({
    type: z.literal("assign"),
    rank: z.number().int(),
    worldSize: z.number().int(),
    ringEndpoints: z.array(text(512)).max(64),
    config: z.record(text(64), z.unknown()),
  }),
  z.object({ type: z.literal("heartbeat"), rank: z.number().int().min(0), step: z.number().int().min(0) }),
  z.object({
    type: z.literal("state"),
    step: z.number().int(),
    what: z.enum(["weights", "stats"]),
    names: z.array(text(64)).max(16),
    byteLengths: z.array(z.number().int().min(0)).max(16),
  }),
]);
type ControlMessage = z.infer<typeof testMessage>;
const schema = testMessage;

const hello: ControlMessage = {
  type: "hello",
  host: "node-a",
  pid: 123,
  gpus: 2,
  ringEndpoint: "tcp://127.0.0.1:5555",
};

describe("control channel", () => {
  it("carries hello, assign and a state transfer with raw float32 frames both ways", async () => {
    const server = track(
      await ControlServer.listen<typeof schema, ControlMessage>("tcp://127.0.0.1:0", {
        schema,
        log: () => {},
      }),
    );
    const client = track(await ControlClient.connect<typeof schema, ControlMessage>(server.endpoint, { schema }));
    const serverIn = inbox(server);
    const clientIn = inbox(client);
    await client.send(hello);
    const got = (await serverIn(5000)) as Incoming<ControlMessage>;
    expect(got.message).toEqual(hello);

    await server.send(got.from, {
      type: "assign",
      rank: 1,
      worldSize: 2,
      ringEndpoints: ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"],
      config: { lr: 5e-4 },
    });
    const assign = (await clientIn(5000)) as Incoming<ControlMessage>;
    expect(assign.message).toMatchObject({ type: "assign", rank: 1, config: { lr: 5e-4 } });

    const weights = Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i) * 3);
    const stats = Float32Array.from({ length: 7 }, (_, i) => i / 7);
    await client.send(
      {
        type: "state",
        step: 12,
        what: "weights",
        names: ["w", "s"],
        byteLengths: [weights.byteLength, stats.byteLength],
      },
      [weights, stats],
    );
    const state = (await serverIn(5000)) as Incoming<ControlMessage>;
    expect(state.message.type).toBe("state");
    expect(new Float32Array(new Uint8Array(state.frames[0]).buffer)).toEqual(weights);
    expect(new Float32Array(new Uint8Array(state.frames[1]).buffer)).toEqual(stats);
    expect(server.rejected).toBe(0);
  });

  it("refuses frames that do not match the declared byte lengths when sending", async () => {
    const server = track(await ControlServer.listen<typeof schema, ControlMessage>("tcp://127.0.0.1:0", { schema }));
    const client = track(await ControlClient.connect<typeof schema, ControlMessage>(server.endpoint, { schema }));
    expect(() =>
      client.send({ type: "state", step: 1, what: "weights", names: ["w"], byteLengths: [8] }, [new Float32Array(3)]),
    ).toThrow(/byteLengths/);
  });

  it("rejects malformed and oversized messages, logs them, and keeps serving", async () => {
    const lines: string[] = [];
    const server = track(
      await ControlServer.listen<typeof schema, ControlMessage>("tcp://127.0.0.1:0", {
        schema,
        log: (l) => lines.push(l),
        limits: { maxMessageBytes: 64 * 1024, maxHeaderBytes: 4096 },
      }),
    );
    const serverIn = inbox(server);
    const raw = track(new zmq.Dealer());
    raw.connect(server.endpoint);
    const bad: Buffer[][] = [
      [pack({ type: "launchMissiles", rank: 0 })], // unknown type
      [pack({ type: "heartbeat", rank: 0 })], // missing step
      [pack({ type: "heartbeat", rank: "zero", step: 1 })], // wrong field type
      [pack({ type: "hello", host: "x".repeat(300), pid: 1, gpus: 0 })], // string over its size limit
      [Buffer.from([0xc1, 0xff, 0x00, 0x13, 0x37])], // garbage bytes
      [pack([1, 2, 3])], // msgpack, but not a map
      [pack({ type: "heartbeat", rank: 0, step: 1, pad: "y".repeat(5000) })], // header over maxHeaderBytes
      [pack({ type: "heartbeat", rank: 0, step: 1 }), Buffer.alloc(16)], // undeclared frame
      [
        pack({ type: "state", step: 1, what: "weights", names: ["a", "b"], byteLengths: [40000, 40000] }),
        Buffer.alloc(40000),
        Buffer.alloc(40000),
      ], // over maxMessageBytes in total
      [pack({ type: "state", step: 1, what: "weights", names: ["a"], byteLengths: [8] }), Buffer.alloc(12)], // frame size differs from declared
    ];
    for (const parts of bad) await raw.send(parts);
    await raw.send(pack({ type: "heartbeat", rank: 3, step: 42 }));
    const got = (await serverIn(5000)) as Incoming<ControlMessage>;
    expect(got.message).toEqual({ type: "heartbeat", rank: 3, step: 42 });
    expect(server.rejected).toBe(bad.length);
    // The first five in full, naming the sender by a printable id; the rest as one count.
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(line).toMatch(/^control: refused a message from peer [0-9a-f]{2,16}(\.\.\.)?: /);
    expect(lines.join("\n")).toMatch(/launchMissiles/);
    expect(lines.join("\n")).toMatch(/not msgpack/);

    // A single frame over ZMQ_MAXMSGSIZE (the codec's limit plus 64 KiB of room for CURVE's box): ZeroMQ
    // drops the sender before the message reaches us.
    const big = track(new zmq.Dealer());
    big.connect(server.endpoint);
    await big.send([
      pack({ type: "state", step: 1, what: "weights", names: ["a"], byteLengths: [200_000] }),
      Buffer.alloc(200_000),
    ]);
    const good = track(await ControlClient.connect<typeof schema, ControlMessage>(server.endpoint, { schema }));
    await good.send({ type: "heartbeat", rank: 4, step: 1 });
    const next = (await serverIn(5000)) as Incoming<ControlMessage>;
    expect(next.message).toEqual({ type: "heartbeat", rank: 4, step: 1 });
    expect(await serverIn(300)).toBe("timeout");
    expect(server.rejected).toBe(bad.length); // never reached our decoder
    server.close();
    expect(lines.slice(5)).toEqual([
      `control: refused ${bad.length - 5} more message(s) from 1 peer(s) since the last report`,
    ]);
  });

  it("50 connections sending garbage cost a handful of log lines, not one per message", async () => {
    const lines: string[] = [];
    const server = track(
      await ControlServer.listen<typeof schema, ControlMessage>("tcp://127.0.0.1:0", {
        schema,
        log: (l) => lines.push(l),
      }),
    );
    const serverIn = inbox(server);
    const sent = 50 * 20;
    for (let c = 0; c < 50; c++) {
      const raw = track(new zmq.Dealer());
      raw.connect(server.endpoint);
      for (let m = 0; m < 20; m++)
        await raw.send(Buffer.from(Array.from({ length: 12 }, () => (Math.random() * 256) | 0)));
    }
    const good = track(await ControlClient.connect<typeof schema, ControlMessage>(server.endpoint, { schema }));
    await good.send({ type: "heartbeat", rank: 0, step: 1 });
    expect(await serverIn(5000)).toMatchObject({ message: { type: "heartbeat" } });
    // Connections are not ordered with each other: read on (bounded) until every garbage message was refused.
    for (let i = 0; i < 50 && server.rejected < sent; i++) expect(await serverIn(100)).toBe("timeout");
    expect(server.rejected).toBe(sent);
    server.close();
    expect(lines.length).toBeLessThanOrEqual(6);
    expect(lines.at(-1)).toMatch(new RegExp(`refused ${sent - 5} more message\\(s\\) from 50 peer\\(s\\)`));
    for (const line of lines) expect(line).toMatch(/^[ -~]+$/); // printable ASCII only
  });

  it("a send to a peer that is gone fails within the send timeout instead of waiting forever", async () => {
    const server = track(
      await ControlServer.listen<typeof schema, ControlMessage>("tcp://127.0.0.1:0", { schema, sendTimeoutMs: 300 }),
    );
    const outcome = await Promise.race([
      server.send("no such peer", { type: "heartbeat", rank: 0, step: 0 }).then(
        () => "sent",
        (e: { code?: string }) => e.code,
      ),
      new Promise((resolve) => setTimeout(() => resolve("still waiting"), 5000)),
    ]);
    expect(outcome).toBe("EHOSTUNREACH");
  });

  it("with CURVE, lets a client holding the run key in and refuses peers without it", async () => {
    const keys = generateRunKeys();
    const lines: string[] = [];
    const server = track(
      await ControlServer.listen<typeof schema, ControlMessage>("tcp://127.0.0.1:0", {
        schema,
        keys,
        log: (l) => lines.push(l),
      }),
    );
    const serverIn = inbox(server);

    const plaintext = track(await ControlClient.connect<typeof schema, ControlMessage>(server.endpoint, { schema }));
    await plaintext.send({ type: "heartbeat", rank: 1, step: 1 });
    const otherRun = track(
      await ControlClient.connect<typeof schema, ControlMessage>(server.endpoint, { schema, keys: generateRunKeys() }),
    );
    await otherRun.send({ type: "heartbeat", rank: 2, step: 2 });
    expect(await serverIn(1000)).toBe("timeout");

    const member = track(await ControlClient.connect<typeof schema, ControlMessage>(server.endpoint, { schema, keys }));
    await member.send({ type: "heartbeat", rank: 3, step: 3 });
    const got = (await serverIn(5000)) as Incoming<ControlMessage>;
    expect(got.message).toEqual({ type: "heartbeat", rank: 3, step: 3 });
    expect(await serverIn(300)).toBe("timeout");
    expect(lines).toEqual([]);
  });

  it("with CURVE, carries a state frame as large as the message limit allows", async () => {
    // CURVE's box around a frame counts against the socket's size limit; the codec's limit must be what holds.
    const keys = generateRunKeys();
    const maxMessageBytes = 4 << 20;
    const limits = { maxMessageBytes };
    const server = track(
      await ControlServer.listen<typeof schema, ControlMessage>("tcp://127.0.0.1:0", { schema, keys, limits }),
    );
    const client = track(
      await ControlClient.connect<typeof schema, ControlMessage>(server.endpoint, { schema, keys, limits }),
    );
    const serverIn = inbox(server);
    const header = (bytes: number): ControlMessage => ({
      type: "state",
      step: 1,
      what: "weights",
      names: ["w"],
      byteLengths: [bytes],
    });
    const headerBytes = pack(header(maxMessageBytes)).byteLength;
    const weights = new Float32Array((maxMessageBytes - headerBytes) >> 2).fill(0.5);
    await client.send(header(weights.byteLength), [weights]);
    const state = (await serverIn(10_000)) as Incoming<ControlMessage>;
    expect(state.message).toMatchObject({ type: "state", byteLengths: [weights.byteLength] });
    expect(state.frames[0].byteLength).toBe(weights.byteLength);
  });

  it("a client with another run's keys is told the handshake failed; one with the run's keys is not", async () => {
    const keys = generateRunKeys();
    const server = track(
      await ControlServer.listen<typeof schema, ControlMessage>("tcp://127.0.0.1:0", { schema, keys, log: () => {} }),
    );
    const serverIn = inbox(server);
    const failures: string[] = [];
    let report: (reason: string) => void = () => {};
    const reported = new Promise<string>((resolve) => {
      report = resolve;
    });
    track(
      await ControlClient.connect<typeof schema, ControlMessage>(server.endpoint, {
        schema,
        keys: generateRunKeys(),
        onHandshakeFailure: report,
      }),
    );
    const outcome = await Promise.race([reported, new Promise((r) => setTimeout(() => r("no report"), 10_000))]);
    expect(outcome).toMatch(/security handshake failed 3 times .*wrong keys/);

    const member = track(
      await ControlClient.connect<typeof schema, ControlMessage>(server.endpoint, {
        schema,
        keys,
        onHandshakeFailure: (reason) => failures.push(reason),
      }),
    );
    await member.send({ type: "heartbeat", rank: 1, step: 1 });
    expect(await serverIn(5000)).toMatchObject({ message: { type: "heartbeat", rank: 1 } });
    expect(await serverIn(1000)).toBe("timeout");
    expect(failures).toEqual([]);
  });

  it("refuses to listen beyond loopback without keys", async () => {
    await expect(ControlServer.listen("tcp://0.0.0.0:0", { schema })).rejects.toThrow(/CURVE/);
  });
});
