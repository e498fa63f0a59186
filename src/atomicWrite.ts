import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { asEnvironmentError } from "./errors.js";

export interface AtomicWriteOptions {
  /**
   * Permission bits of the new file (default 0o644, both before umask). Given explicitly (0o600 for a
   * secret), the temp file is created exclusively with them, so they hold from its first byte: an existing
   * file at the temp path, whatever its permissions, is never written into.
   */
  mode?: number;
}

/**
 * Writes `data` to `path` so that readers see either the old file or the complete new one: a temp file in
 * the same directory (same filesystem, so rename is atomic), fsync, rename, then fsync of the directory so
 * the rename itself survives a power cut.
 */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array | readonly Uint8Array[],
  options: AtomicWriteOptions = {},
): void {
  const temp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  try {
    const fd = options.mode === undefined ? openSync(temp, "w", 0o644) : openSync(temp, "wx", options.mode);
    try {
      const parts = typeof data === "string" ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data;
      for (const part of parts) writeAll(fd, part);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw asEnvironmentError(error, path, basename(path));
  }
  fsyncDir(dirname(path));
}

/** Writes a file inside a directory that is not yet visible (no rename needed), durably. */
export function writeFileDurable(path: string, parts: readonly Uint8Array[]): void {
  const fd = openSync(path, "w", 0o644);
  try {
    for (const part of parts) writeAll(fd, part);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Fsyncs a directory, so that entries just created or renamed in it survive a power cut. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.byteLength) offset += writeSync(fd, bytes, offset, bytes.byteLength - offset);
}
