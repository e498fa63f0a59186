import { type ChildProcess, execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateRunKeys, runKeysToEnv } from "../../src/comm/security.js";
import { root, runModule } from "./trainHelpers.js";

/**
 * Two "hosts" on one machine: network namespaces joined by a veth pair, with addresses (10.200.0.1 and
 * 10.200.0.2) that exist only inside them, so every byte between the ranks crosses a real non-loopback
 * interface and CURVE is mandatory. Host A runs rank 0 and the coordinator's control socket, host B runs
 * rank 1 and an intruder that has the addresses but not the run keys. Needs root for the namespaces (CI runs
 * as root); without it, or when they cannot be built, the suite fails.
 */
const tag = `${process.pid % 100000}`;
const nsA = `vxr-a-${tag}`;
const nsB = `vxr-b-${tag}`;
const dist = join(root, "dist/src/comm");

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function cleanup(): void {
  for (const ns of [nsA, nsB]) {
    try {
      ip("netns", "del", ns); // deleting a namespace also removes its end of the veth pair
    } catch {
      // not created
    }
  }
}

/** Runs an ES module given as text inside a namespace; resolves with its stdout. */
function runIn(ns: string, code: string, env: Record<string, string>, children: ChildProcess[]): Promise<string> {
  return runModule(code, { via: ["ip", "netns", "exec", ns], env, children, label: ns });
}

const LENGTH = 100_003;

// Rank r contributes (r + 1) · (i mod 1000): integer-valued, so the expected sum is exact.
const rankCode = (rank: number, bind: string, next: string, control: string) => `
import * as os from "node:os";
import { RingAllReduce } from "${dist}/ring.js";
import { installNativeRingArithmetic } from "${dist}/../native/ringArithmetic.js";
installNativeRingArithmetic();
import { ControlServer, ControlClient } from "${dist}/control.js";
import { runKeysFromEnv } from "${dist}/security.js";
import { workerMessageSchema } from "${dist}/../protocol/messages.js";
const keys = runKeysFromEnv();
const ring = await RingAllReduce.open({ bind: "${bind}", keys, timeoutMs: 30000, log: (l) => console.error(l) });
let hellos = [];
let server;
if (${rank} === 0) {
  server = await ControlServer.listen("${control}", { keys, schema: workerMessageSchema, log: (l) => console.error(l) });
  const inbox = server[Symbol.asyncIterator]();
  hellos.push((await inbox.next()).value.message.host);
  // the intruder has been knocking for a while; anything it got through would arrive now
  const late = await Promise.race([inbox.next(), new Promise((r) => setTimeout(() => r("none"), 1500))]);
  if (late !== "none") hellos.push(late.value.message.host);
} else {
  const client = await ControlClient.connect("${control}", { keys, schema: workerMessageSchema });
  await client.send({ type: "hello", host: "host-b", pid: process.pid, localIndex: -1 });
  client.close();
}
await ring.join({ rank: ${rank}, worldSize: 2, next: "${next}" });
const data = new Float32Array(${LENGTH});
for (let i = 0; i < data.length; i++) data[i] = (${rank} + 1) * (i % 1000);
await ring.allReduce(data, { average: false });
let bad = 0;
for (let i = 0; i < data.length; i++) if (data[i] !== 3 * (i % 1000)) bad++;
process.stdout.write(JSON.stringify({ rank: ${rank}, bad, hellos, rejected: server ? server.rejected : 0 }) + "\\n");
ring.close();
server?.close();
`;

// Knows the addresses, not the keys: plaintext and wrong-key peers on the control socket and the ring.
const intruderCode = `
import * as zmq from "zeromq";
import { encodeMessage } from "${dist}/codec.js";
import { encodeHeader } from "${dist}/ringFrame.js";
const wrong = zmq.curveKeyPair();
const mine = zmq.curveKeyPair();
const plainControl = new zmq.Dealer({ linger: 0, sendTimeout: 0 });
plainControl.connect("tcp://10.200.0.1:7001");
const curveControl = new zmq.Dealer({ linger: 0, sendTimeout: 0, curveServerKey: wrong.publicKey, curvePublicKey: mine.publicKey, curveSecretKey: mine.secretKey });
curveControl.connect("tcp://10.200.0.1:7001");
const ring = new zmq.Push({ linger: 0, sendTimeout: 0 });
ring.connect("tcp://10.200.0.1:7000");
const forged = Buffer.from(new Float32Array(50002).fill(1e6).buffer);
const hello = encodeMessage({ type: "hello", host: "intruder", pid: process.pid, localIndex: -1 });
const until = Date.now() + 2500;
while (Date.now() < until) {
  for (const s of [plainControl, curveControl]) await s.send(hello).catch(() => {});
  await ring.send([encodeHeader({ generation: 0, op: 0, kind: 1, wire: 1, step: 0, chunk: 0, bytes: forged.byteLength }), forged]).catch(() => {});
  await new Promise((r) => setTimeout(r, 100));
}
for (const s of [plainControl, curveControl, ring]) s.close();
`;

describe("ring and control channel across two network namespaces", () => {
  beforeAll(() => {
    if (process.getuid?.() !== 0) throw new Error("comm-netns e2e needs root for ip netns (CI runs as root)");
    cleanup();
    try {
      ip("netns", "add", nsA);
      ip("netns", "add", nsB);
      ip("link", "add", `vxa${tag}`, "type", "veth", "peer", "name", `vxb${tag}`);
      ip("link", "set", `vxa${tag}`, "netns", nsA);
      ip("link", "set", `vxb${tag}`, "netns", nsB);
      ip("-n", nsA, "addr", "add", "10.200.0.1/24", "dev", `vxa${tag}`);
      ip("-n", nsB, "addr", "add", "10.200.0.2/24", "dev", `vxb${tag}`);
      for (const [ns, dev] of [
        [nsA, `vxa${tag}`],
        [nsB, `vxb${tag}`],
      ]) {
        ip("-n", ns, "link", "set", dev, "up");
        ip("-n", ns, "link", "set", "lo", "up");
      }
    } catch (error) {
      cleanup();
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? "";
      throw new Error(
        `running as root but cannot create network namespaces (${stderr.trim() || (error as Error).message})`,
      );
    }
  });
  afterAll(cleanup);

  it("all-reduces over CURVE between the hosts while peers without the run key get nothing through", async () => {
    const keys = runKeysToEnv(generateRunKeys());
    const children: ChildProcess[] = [];
    try {
      const a = runIn(
        nsA,
        rankCode(0, "tcp://10.200.0.1:7000", "tcp://10.200.0.2:7000", "tcp://10.200.0.1:7001"),
        keys,
        children,
      );
      await new Promise((r) => setTimeout(r, 500)); // let host A bind before anyone dials it
      const intruder = runIn(nsB, intruderCode, {}, children);
      await new Promise((r) => setTimeout(r, 500));
      const b = runIn(
        nsB,
        rankCode(1, "tcp://10.200.0.2:7000", "tcp://10.200.0.1:7000", "tcp://10.200.0.1:7001"),
        keys,
        children,
      );
      const [outA, outB] = await Promise.all([a, b, intruder]);
      const resultA = JSON.parse(outA.trim().split("\n").at(-1) as string);
      const resultB = JSON.parse(outB.trim().split("\n").at(-1) as string);
      expect(resultA).toEqual({ rank: 0, bad: 0, hellos: ["host-b"], rejected: 0 });
      expect(resultB).toMatchObject({ rank: 1, bad: 0 });
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill();
    }
  }, 120_000);

  it("refuses to bind a non-loopback address without keys", async () => {
    const code = `
import { RingAllReduce } from "${dist}/ring.js";
import { installNativeRingArithmetic } from "${dist}/../native/ringArithmetic.js";
installNativeRingArithmetic();
try { await RingAllReduce.open({ bind: "tcp://10.200.0.1:7100" }); process.exit(3); }
catch (e) { console.log(e.name + ": " + e.message); }`;
    const out = await runIn(nsA, code, {}, []);
    expect(out).toMatch(/InputError: ring bind address: tcp:\/\/10.200.0.1:7100 is reachable beyond loopback/);
  }, 60_000);
});
