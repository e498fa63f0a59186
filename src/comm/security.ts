import { readFileSync, statSync } from "node:fs";
import * as zmq from "zeromq";
import { writeFileAtomic } from "../atomicWrite.js";
import { inputError } from "../errors.js";

/**
 * Who may talk to a run. Sockets bind to loopback unless told otherwise; as soon as any socket of the run
 * binds or connects beyond loopback, every socket (control and ring) speaks CURVE with one server key pair
 * generated for the run. Every server socket (the coordinator's ROUTER, each rank's ring receiver) holds the
 * run's secret key; a client must know the run's public key to finish the handshake, so a peer that was not
 * handed the run keys (by environment variable or a 0600 file) gets no message through.
 */
export interface RunKeys {
  /** Z85, 40 characters */
  publicKey: string;
  /** Z85, 40 characters */
  secretKey: string;
}

export const RUN_KEYS_ENV = { publicKey: "VOXRING_CURVE_PUBLIC_KEY", secretKey: "VOXRING_CURVE_SECRET_KEY" } as const;

const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

export function generateRunKeys(): RunKeys {
  if (!zmq.capability.curve) throw new Error("this ZeroMQ build has no CURVE support");
  return zmq.curveKeyPair();
}

/** Environment variables that hand the run keys to a worker process (merge into its `env`). */
export function runKeysToEnv(keys: RunKeys): Record<string, string> {
  return { [RUN_KEYS_ENV.publicKey]: keys.publicKey, [RUN_KEYS_ENV.secretKey]: keys.secretKey };
}

/** The run keys from the environment, or undefined when neither variable is set. */
export function runKeysFromEnv(env: NodeJS.ProcessEnv = process.env): RunKeys | undefined {
  const publicKey = env[RUN_KEYS_ENV.publicKey];
  const secretKey = env[RUN_KEYS_ENV.secretKey];
  if (publicKey === undefined && secretKey === undefined) return undefined;
  for (const [name, value] of [
    [RUN_KEYS_ENV.publicKey, publicKey],
    [RUN_KEYS_ENV.secretKey, secretKey],
  ] as const) {
    if (value === undefined || !Z85_KEY.test(value)) throw inputError(name, "expected a 40-character Z85 CURVE key");
  }
  return { publicKey: publicKey as string, secretKey: secretKey as string };
}

/**
 * Writes the run keys to `path`, readable by the owner only. The temp file is created 0600 so the secret
 * is never visible to others, not even between write and chmod; fsync then rename, so no half-written file.
 */
export function writeRunKeys(path: string, keys: RunKeys): void {
  writeFileAtomic(path, `${JSON.stringify(keys)}\n`, { mode: 0o600 });
}

/** Reads keys written by writeRunKeys; refuses a file that group or others may read. */
export function readRunKeys(path: string): RunKeys {
  let text: string;
  try {
    if ((statSync(path).mode & 0o077) !== 0)
      throw inputError(path, "run keys must be readable by the owner only (chmod 600)");
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code)
      throw inputError(path, `cannot read run keys (${(error as Error).message})`);
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw inputError(path, "run keys file is not JSON");
  }
  const keys = parsed as Partial<RunKeys>;
  if (typeof keys?.publicKey !== "string" || !Z85_KEY.test(keys.publicKey))
    throw inputError(path, "publicKey is not a Z85 key");
  if (typeof keys.secretKey !== "string" || !Z85_KEY.test(keys.secretKey))
    throw inputError(path, "secretKey is not a Z85 key");
  return { publicKey: keys.publicKey, secretKey: keys.secretKey };
}

/** True when the endpoint cannot be reached from another host (loopback TCP, ipc, inproc). */
export function isLoopbackEndpoint(endpoint: string): boolean {
  if (endpoint.startsWith("ipc://") || endpoint.startsWith("inproc://")) return true;
  const match = /^tcp:\/\/(.+):(\d+|\*)$/.exec(endpoint);
  if (!match) return false;
  const host = match[1].replace(/^\[(.*)\]$/, "$1");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * CURVE is required when any endpoint leaves loopback; a run that needs it but has no keys is a setup
 * mistake reported against the option that named the endpoint.
 */
export function requireKeysFor(endpoints: readonly string[], keys: RunKeys | undefined, option: string): void {
  const open = endpoints.find((e) => !isLoopbackEndpoint(e));
  if (open && !keys)
    throw inputError(option, `${open} is reachable beyond loopback, so the run needs CURVE keys (generateRunKeys)`);
}

/** Makes a bound socket a CURVE server holding the run's secret key. */
export function secureServer(socket: zmq.Socket, keys: RunKeys | undefined): void {
  if (!keys) return;
  socket.curveServer = true;
  socket.curveSecretKey = keys.secretKey;
  socket.curvePublicKey = keys.publicKey;
}

/** Makes a connecting socket a CURVE client of a run server (its own key pair is throwaway). */
export function secureClient(socket: zmq.Socket, keys: RunKeys | undefined): void {
  if (!keys) return;
  const mine = zmq.curveKeyPair();
  socket.curveServerKey = keys.publicKey;
  socket.curvePublicKey = mine.publicKey;
  socket.curveSecretKey = mine.secretKey;
}
