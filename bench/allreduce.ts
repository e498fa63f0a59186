/**
 * `orchestrate bench allreduce --workers 4 --mb 64 --iterations 5 --json [--amp] [--transport auto|ipc|tcp|netns]
 *   [--rate 1gbit|none] [--copy] [--data-plane auto|js]`
 *
 * Bus bandwidth of the ring all-reduce between real processes on this host, next to the point-to-point
 * throughput of the socket transport (one PUSH → PULL stream between two processes, same frame size)
 * measured in the same run, so the ratio busbw / p2p says how much of the wire the ring uses. With the
 * default transport fp32 payloads go through shared memory (only barriers use the sockets), so the ratio
 * compares against what the sockets alone could stream. Each rank all-reduces the ring's own buffer
 * (RingAllReduce.buffer: its shared region), as the training worker does; --copy passes a plain array instead,
 * which costs a copy in and out. The stream ring's frames move through the comm addon's native data plane when
 * it is built (data_plane: "native"); --data-plane js (or VOXRING_COMM_DATA_PLANE=js) keeps the JavaScript
 * one, and VOXRING_COMM_NATIVE=0 plain JavaScript throughout. Beside them, shm_copy_GBps: one copy of the bytes out of a /dev/shm mapping,
 * the point-to-point move of the shared-memory path (a rank reading what another wrote), so that busbw can
 * also be read against memory rather than sockets. nccl-tests convention: algbw = bytes / time per
 * all-reduce, busbw = algbw · 2(n − 1)/n.
 *
 * --transport netns puts each rank on a host of its own (bench/netns.ts: a network namespace on a bridge,
 * needs root), its link shaped with tc tbf to --rate both ways (none: unshaped), CURVE on every socket, the
 * point-to-point stream from host 1 to host 0 too: what the ring makes of a real link. link_GBps is the
 * shaped rate and busbw_over_link how much of it the ring uses (a TCP/IP payload fills about 95 % of an
 * Ethernet link).
 *
 * This file is also the child script: the parent forks it with VOXRING_BENCH_ALLREDUCE_CHILD set.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as zmq from "zeromq";
import { RingAllReduce } from "../src/comm/ring.js";
import {
  generateRunKeys,
  type RunKeys,
  runKeysFromEnv,
  runKeysToEnv,
  secureClient,
  secureServer,
} from "../src/comm/security.js";
import { sharedMemoryAddon } from "../src/comm/sharedRegions.js";
import { inputError } from "../src/errors.js";
import { retainFreedMemory } from "../src/native/commAddon.js";
import { installNativeRingArithmetic } from "../src/native/ringArithmetic.js";
import { buildHosts, type NetHost, tcRateBitsPerSecond } from "./netns.js";

export type BenchArgs = Record<string, unknown>;

export interface AllReduceBenchResult {
  workers: number;
  mb: number;
  iterations: number;
  algbw_GBps: number;
  busbw_GBps: number;
  p2p_GBps: number;
  /** busbw / p2p */
  busbw_over_p2p: number;
  /** one copy out of a shared-memory mapping (null without the native addon) */
  shm_copy_GBps: number | null;
  seconds_per_iter: number;
  transport: string;
  /** who moved the stream ring's frames: "native" (comm addon thread) or "js" */
  data_plane: string;
  wire: string;
  /** the ranks all-reduced a plain array (--copy) rather than the ring's own buffer */
  copy: boolean;
  /** --transport netns: the tc rate of each host's link ("none": unshaped) */
  rate?: string;
  /** that rate in GB/s (null: unshaped) */
  link_GBps?: number | null;
  /** busbw / link_GBps */
  busbw_over_link?: number | null;
}

interface Job {
  bytes: number;
  iterations: number;
  amp: boolean;
  transport: Transport;
  copy: boolean;
  dataPlane: "auto" | "js";
  /** --transport netns: one namespace host per rank, and the run's CURVE keys */
  hosts?: NetHost[];
  keys?: RunKeys;
}

const CHILD_ENV = "VOXRING_BENCH_ALLREDUCE_CHILD";
const TRANSPORT_ENV = "VOXRING_BENCH_ALLREDUCE_TRANSPORT";
/** the address a child binds on (--transport netns: its host's) */
const ADDRESS_ENV = "VOXRING_BENCH_ALLREDUCE_ADDRESS";
const CHUNK_BYTES = 1 << 20;
const MiB = 1 << 20;

// Messages between the parent and its children (over the fork IPC channel).
type ToParent =
  | { endpoint: string }
  | { warm: true }
  | { seconds: number; check: number; dataPlane?: string }
  | { error: string };
type ToChild =
  | {
      rank: number;
      worldSize: number;
      next: string;
      bytes: number;
      iterations: number;
      amp: boolean;
      copy: boolean;
    }
  | { go: true };
/**
 * "auto": what the ring picks for ranks on one host (shared memory for fp32 payloads, Unix sockets for the
 * rest); "ipc": Unix sockets only; "tcp": loopback TCP only, for comparison.
 */
type Transport = "auto" | "ipc" | "tcp" | "netns";
const TRANSPORT_LABEL: Record<Transport, string> = {
  auto: "shared memory + zeromq ipc://",
  ipc: "zeromq ipc://",
  tcp: "zeromq tcp://127.0.0.1",
  netns: "zeromq tcp:// + CURVE between network-namespace hosts",
};

export async function run(args: BenchArgs): Promise<AllReduceBenchResult> {
  const workers = positiveInteger(args.workers, "--workers");
  const iterations = positiveInteger(args.iterations, "--iterations");
  const mb = Number(args.mb);
  if (!Number.isFinite(mb) || mb <= 0 || mb > 4096)
    throw inputError("--mb", `expected a size in MB in (0, 4096], got ${args.mb}`);
  const bytes = Math.max(4, Math.floor((mb * MiB) / 4) * 4);
  const transport = (args.transport ?? "auto") as Transport;
  if (!(transport in TRANSPORT_LABEL))
    throw inputError("--transport", `expected auto, ipc, tcp or netns, got ${String(transport)}`);
  const rate = transport === "netns" ? String(args.rate ?? "1gbit") : undefined;
  const bitsPerSecond = rate === undefined ? null : tcRateBitsPerSecond(rate);
  if (rate !== undefined && rate !== "none" && bitsPerSecond === null)
    throw inputError("--rate", `expected a tc rate such as 1gbit, or none, got ${rate}`);
  if (transport === "netns" && workers < 2) throw inputError("--workers", "--transport netns needs 2 or more");
  if (transport === "netns" && process.getuid?.() !== 0)
    throw inputError("--transport", "netns needs root to build network namespaces (ip netns, tc)");
  const amp = args.amp === true;
  const copy = args.copy === true;
  const dataPlane = (args.dataPlane ?? "auto") as Job["dataPlane"];
  if (dataPlane !== "auto" && dataPlane !== "js")
    throw inputError("--data-plane", `expected auto or js, got ${String(dataPlane)}`);
  const job: Job = { bytes, iterations, amp, transport, copy, dataPlane };

  const net =
    transport === "netns"
      ? buildHosts({
          prefix: `vab${process.pid % 100}`,
          count: workers,
          subnet: "10.216.9",
          rate: bitsPerSecond === null ? undefined : rate,
        })
      : undefined;
  const onSignal = () => {
    net?.remove();
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let ring: { seconds: number; dataPlane: string };
  let p2pSeconds: number;
  try {
    if (net) Object.assign(job, { hosts: net.hosts, keys: generateRunKeys() });
    ring = workers === 1 ? { seconds: 0, dataPlane: "none" } : await timeRing(workers, job);
    // fp16 halves the bytes on the wire: the point-to-point reference streams the same bytes per frame.
    p2pSeconds = await timeP2p(job);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    net?.remove();
  }
  const ringSeconds = ring.seconds;
  installNativeRingArithmetic(); // the shared-memory copy below maps through the comm addon
  const shmCopy = timeSharedCopy(job);
  const algbw = ringSeconds > 0 ? bytes / ringSeconds / 1e9 : Number.POSITIVE_INFINITY;
  const busbw = (algbw * 2 * (workers - 1)) / workers;
  // Per fp32 byte reduced, like algbw: with --amp on the sockets both move half the bytes in the same time.
  const p2p = bytes / p2pSeconds / 1e9;
  return {
    workers,
    mb,
    iterations,
    algbw_GBps: round(algbw),
    busbw_GBps: round(busbw),
    p2p_GBps: round(p2p),
    busbw_over_p2p: round(busbw / p2p),
    shm_copy_GBps: shmCopy === null ? null : round(bytes / shmCopy / 1e9),
    seconds_per_iter: round(ringSeconds, 5),
    transport: TRANSPORT_LABEL[transport],
    data_plane: ring.dataPlane,
    // Through shared memory there is no wire: --amp rounds the float32 result to fp16 once.
    wire: amp ? (transport === "auto" ? "fp16 (result rounded)" : "fp16") : "fp32",
    copy,
    ...(rate === undefined ? {} : linkFigures(rate, bitsPerSecond, busbw, amp)),
  };
}

/** The shaped rate in GB/s and the share of it busbw takes (per byte on the wire: fp16 moves half). */
function linkFigures(rate: string, bitsPerSecond: number | null, busbw: number, amp: boolean) {
  if (bitsPerSecond === null) return { rate, link_GBps: null, busbw_over_link: null };
  const link = bitsPerSecond / 8 / 1e9;
  return { rate, link_GBps: round(link, 4), busbw_over_link: round((amp ? busbw / 2 : busbw) / link) };
}

/** Seconds per all-reduce (the slowest rank's mean over the timed iterations) and who moved the frames. */
async function timeRing(workers: number, job: Job): Promise<{ seconds: number; dataPlane: string }> {
  const expected = (workers + 1) / 2;
  const results = await runChildren(workers, "ring", job);
  for (const r of results) {
    if (r.check !== expected)
      throw new Error(`bench allreduce: a rank ended with ${r.check}, expected the mean ${expected}`);
  }
  const planes = [...new Set(results.map((r) => r.dataPlane))].join("+");
  return { seconds: Math.max(...results.map((r) => r.seconds)), dataPlane: planes };
}

/** Seconds to stream `bytes` from one process to another, mean over the timed rounds. */
async function timeP2p(job: Job): Promise<number> {
  const [receiver] = await runChildren(2, "p2p", job);
  return receiver.seconds;
}

/** Seconds to copy `bytes` out of a /dev/shm mapping into a private array, mean over the timed rounds. */
function timeSharedCopy(job: Job): number | null {
  installNativeRingArithmetic();
  const addon = sharedMemoryAddon();
  if (!addon) return null;
  const path = join("/dev/shm", `voxring-bench-${process.pid}`);
  const region = new Float32Array(addon.shmMap(path, job.bytes, true));
  rmSync(path, { force: true }); // the mapping stays
  region.fill(1);
  const out = new Float32Array(region.length);
  out.set(region); // warm-up: page faults
  const start = performance.now();
  for (let i = 0; i < job.iterations; i++) out.set(region);
  return (performance.now() - start) / 1000 / job.iterations;
}

async function runChildren(count: number, role: "ring" | "p2p", job: Job) {
  const self = fileURLToPath(import.meta.url);
  const children: ChildProcess[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const env = {
        ...process.env,
        [CHILD_ENV]: role,
        [TRANSPORT_ENV]: job.transport,
        ...(job.dataPlane === "js" ? { VOXRING_COMM_DATA_PLANE: "js" } : {}),
        ...(job.keys ? runKeysToEnv(job.keys) : {}),
        ...(job.hosts ? { [ADDRESS_ENV]: job.hosts[i].addr } : {}),
      };
      const stdio = ["ignore", "inherit", "inherit", "ipc"] as const;
      // `ip netns exec` runs node in the host's namespace with the IPC channel's descriptor inherited.
      const host = job.hosts?.[i];
      children.push(
        host
          ? spawn("ip", ["netns", "exec", host.ns, process.execPath, self], { env, stdio: [...stdio] })
          : fork(self, [], { env, stdio: [...stdio] }),
      );
    }
    const endpoints = await Promise.all(
      children.map((c) => nextMessage(c).then((m) => (m as { endpoint: string }).endpoint)),
    );
    const done = children.map((c) => nextMessage(c));
    if (role === "p2p") {
      // The sender starts the timed stream only once the receiver has drained the warm-up round, so no timed
      // frame is already buffered when the receiver's clock starts.
      done[0] = done[0].then(async (m) => {
        if (!("warm" in m)) throw new Error("bench allreduce: p2p receiver did not warm up");
        children[1].send({ go: true } satisfies ToChild);
        const received = await nextMessage(children[0]);
        children[1].send({ go: true } satisfies ToChild); // everything arrived: the sender may close
        return received;
      });
    }
    children.forEach((c, rank) => {
      const next = endpoints[(rank + 1) % count];
      const msg: ToChild = {
        rank,
        worldSize: count,
        next,
        bytes: job.bytes,
        iterations: job.iterations,
        amp: job.amp,
        copy: job.copy,
      };
      c.send(msg);
    });
    return (await Promise.all(done)) as { seconds: number; check: number; dataPlane?: string }[];
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill();
  }
}

function nextMessage(child: ChildProcess): Promise<ToParent> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) =>
      reject(new Error(`bench allreduce: a child exited (status ${code}) before reporting`));
    child.once("exit", onExit);
    child.once("message", (m: ToParent) => {
      child.off("exit", onExit);
      if ("error" in m) reject(new Error(`bench allreduce child: ${m.error}`));
      else resolve(m);
    });
  });
}

// ---- child side ----

async function child(role: string): Promise<void> {
  const send = (m: ToParent) => (process.send as (m: ToParent) => void)(m);
  try {
    if (role === "ring") await ringChild(send);
    else await p2pChild(send);
  } catch (error) {
    send({ error: (error as Error).stack ?? String(error) });
  }
  process.disconnect?.();
}

async function ringChild(send: (m: ToParent) => void): Promise<void> {
  installNativeRingArithmetic();
  retainFreedMemory(); // as a training worker does (src/worker/loop.ts)
  const transport = process.env[TRANSPORT_ENV] as Transport;
  const ring = await RingAllReduce.open({
    chunkBytes: CHUNK_BYTES,
    bind: `tcp://${process.env[ADDRESS_ENV] ?? "127.0.0.1"}:0`,
    keys: runKeysFromEnv(),
    transport: transport === "tcp" || transport === "netns" ? "as-given" : "auto",
    sharedMemory: transport === "auto",
  });
  send({ endpoint: ring.endpoint });
  const job = (await receiveJob()) as Extract<ToChild, { rank: number }>;
  await ring.join({ rank: job.rank, worldSize: job.worldSize, next: job.next });
  const length = job.bytes / 4;
  const options = { average: true, fp16: job.amp };
  const warm = new Float32Array(length).fill(job.rank + 1);
  await ring.allReduce(warm, options); // warm-up: connections, shared regions, page faults
  const check = warm[length - 1];
  // The mean again and again from here on: every rank holds it.
  const data = job.copy ? warm : ring.buffer(length).fill(check);
  await ring.barrier();
  const start = performance.now();
  for (let i = 0; i < job.iterations; i++) await ring.allReduce(data, options);
  await ring.barrier();
  const seconds = (performance.now() - start) / 1000 / job.iterations;
  // The mean of equal values is that value: anything else after the timed rounds is a broken all-reduce.
  const wrong = data.findIndex((v) => v !== check);
  if (wrong >= 0) throw new Error(`rank ${job.rank}: element ${wrong} is ${data[wrong]} after the timed rounds`);
  send({ seconds, check, dataPlane: ring.dataPlane });
  ring.close();
}

/**
 * Rank 0 receives, rank 1 sends, with the ring's frame layout (small header + 1 MiB payload) over the
 * socket transport the ring uses. With --amp on the sockets the ring's frames carry half floats: the same
 * frames, half the bytes.
 */
async function p2pChild(send: (m: ToParent) => void): Promise<void> {
  const transport = process.env[TRANSPORT_ENV] as Transport;
  const keys = runKeysFromEnv();
  const pull = new zmq.Pull({ receiveHighWaterMark: 64, linger: 0, maxMessageSize: CHUNK_BYTES + (1 << 16) });
  secureServer(pull, keys);
  const ipcDir = transport === "auto" || transport === "ipc" ? mkdtempSync(join(tmpdir(), "voxring-p2p-")) : undefined;
  await pull.bind(ipcDir ? `ipc://${join(ipcDir, "recv")}` : `tcp://${process.env[ADDRESS_ENV] ?? "127.0.0.1"}:*`);
  send({ endpoint: pull.lastEndpoint as string });
  const job = (await receiveJob()) as Extract<ToChild, { rank: number }>;
  // A ring frame holds CHUNK_BYTES / 4 elements, i.e. half the bytes in fp16.
  const halves = job.amp && process.env[TRANSPORT_ENV] !== "auto";
  const frameBytes = halves ? CHUNK_BYTES / 2 : CHUNK_BYTES;
  if (halves) job.bytes /= 2;
  const frames = Math.ceil(job.bytes / frameBytes);
  if (job.rank === 1) {
    const push = new zmq.Push({ sendHighWaterMark: 64, linger: 10_000 });
    secureClient(push, keys);
    push.connect(job.next);
    const payload = Buffer.alloc(frameBytes, 1);
    const header = Buffer.alloc(24);
    const round = async () => {
      for (let f = 0; f < frames; f++)
        await push.send([header, payload.subarray(0, Math.min(frameBytes, job.bytes - f * frameBytes))]);
    };
    await round();
    await new Promise((resolve) => process.once("message", resolve));
    for (let i = 0; i < job.iterations; i++) await round();
    await new Promise((resolve) => process.once("message", resolve)); // the receiver has it all
    send({ seconds: 0, check: 0 });
    push.close();
  } else {
    for (let f = 0; f < frames; f++) await pull.receive(); // warm-up round
    send({ warm: true });
    // The clock starts at the first frame of the timed rounds, so that frame's bytes are not counted.
    const timed = frames * job.iterations;
    let start = performance.now();
    if (timed > 1) {
      await pull.receive();
      start = performance.now();
    }
    let received = timed > 1 ? 0 : job.bytes;
    if (timed === 1) await pull.receive();
    for (let f = 1; f < timed; f++) received += (await pull.receive())[1].byteLength;
    const seconds = (performance.now() - start) / 1000;
    // Seconds per round, scaled from the bytes timed (all but the first frame) to the whole round.
    send({ seconds: (seconds * job.bytes) / received, check: 0 });
  }
  pull.close();
  if (ipcDir) rmSync(ipcDir, { recursive: true, force: true });
}

function receiveJob(): Promise<ToChild> {
  return new Promise((resolve) => process.once("message", (m: ToChild) => resolve(m)));
}

function positiveInteger(value: unknown, option: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw inputError(option, `expected an integer in [1, 64], got ${value}`);
  return n;
}

function round(x: number, digits = 3): number {
  return Number.isFinite(x) ? Number(x.toFixed(digits)) : x;
}

if (process.env[CHILD_ENV] && process.send) void child(process.env[CHILD_ENV]);
