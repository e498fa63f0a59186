import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checksum } from "../../../src/comm/checksum.js";
import {
  generateRunKeys,
  isLoopbackEndpoint,
  RUN_KEYS_ENV,
  readRunKeys,
  requireKeysFor,
  runKeysFromEnv,
  runKeysToEnv,
  writeRunKeys,
} from "../../../src/comm/security.js";
import { InputError } from "../../../src/errors.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "voxring-keys-"));
  dirs.push(d);
  return d;
}

describe("run keys", () => {
  it("are fresh per run and travel through the environment", () => {
    const a = generateRunKeys();
    const b = generateRunKeys();
    expect(a.publicKey).toHaveLength(40);
    expect(a.publicKey).not.toBe(b.publicKey);
    expect(runKeysFromEnv(runKeysToEnv(a))).toEqual(a);
    expect(runKeysFromEnv({})).toBeUndefined();
    expect(() => runKeysFromEnv({ [RUN_KEYS_ENV.publicKey]: a.publicKey })).toThrow(RUN_KEYS_ENV.secretKey);
    expect(() => runKeysFromEnv({ ...runKeysToEnv(a), [RUN_KEYS_ENV.secretKey]: "short" })).toThrow(InputError);
  });

  it("are written 0600 without leftovers and read back; a file others can read is refused", () => {
    const dir = tempDir();
    const path = join(dir, "run.keys");
    const keys = generateRunKeys();
    writeRunKeys(path, keys);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["run.keys"]);
    expect(readRunKeys(path)).toEqual(keys);
    chmodSync(path, 0o644);
    expect(() => readRunKeys(path)).toThrow(/owner only/);
    writeFileSync(join(dir, "bad.keys"), "{not json", { mode: 0o600 });
    expect(() => readRunKeys(join(dir, "bad.keys"))).toThrow(/bad.keys: run keys file is not JSON/);
    expect(() => readRunKeys(join(dir, "missing.keys"))).toThrow(InputError);
  });

  it("are required as soon as an endpoint leaves loopback", () => {
    for (const e of ["tcp://127.0.0.1:5555", "tcp://localhost:1", "tcp://[::1]:2", "ipc:///tmp/x", "inproc://y"]) {
      expect(isLoopbackEndpoint(e)).toBe(true);
    }
    for (const e of ["tcp://0.0.0.0:5555", "tcp://10.200.0.1:1", "tcp://*:3", "tcp://eth0:4", "garbage"]) {
      expect(isLoopbackEndpoint(e)).toBe(false);
    }
    expect(() => requireKeysFor(["tcp://127.0.0.1:1", "tcp://10.0.0.2:1"], undefined, "--coordinator")).toThrow(
      /--coordinator: tcp:\/\/10.0.0.2:1/,
    );
    expect(() => requireKeysFor(["tcp://10.0.0.2:1"], generateRunKeys(), "--coordinator")).not.toThrow();
  });
});

describe("checksum", () => {
  it("is the CRC-32 of the bytes, and sees a one-bit change", () => {
    expect(checksum(new TextEncoder().encode("123456789"))).toBe(0xcbf43926); // the CRC-32 check value
    const w = Float32Array.from({ length: 1001 }, (_, i) => Math.cos(i));
    const before = checksum(w);
    expect(checksum(w.subarray(0))).toBe(before);
    new Uint32Array(w.buffer)[500] ^= 1;
    expect(checksum(w)).not.toBe(before);
  });
});
