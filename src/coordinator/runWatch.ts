/**
 * A run directory watched for the live page: events.jsonl tailed (only the bytes appended since the last look
 * are read and folded), config.json read once, val_preview.png stat'ed for its version. The live coordinator
 * and `orchestrate view` both serve a RunWatch, so both pages come from the same fold of the same file.
 *
 *   const watch = new RunWatch({ runDir: "runs/p1", live: () => workers.facts() });
 *   const snapshot = watch.snapshot();   // at most one look at the file's tail per `minIntervalMs`
 *
 * The looks are synchronous on purpose: a stat and a read of the few kB appended since the last poll take
 * microseconds, while each await would wait for a turn of the coordinator's event loop, which validation keeps
 * busy (a request with five awaits took seconds there). One look reads at most `maxReadBytes`.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { StringDecoder } from "node:string_decoder";
import type { StoredEvent } from "./events.js";
import { liveLockHolder } from "./runLock.js";
import { type LiveFacts, RunFold, type RunSnapshot } from "./runSnapshot.js";

export interface RunWatchOptions {
  runDir: string;
  /** The coordinator's live facts; absent for `view`. */
  live?: () => LiveFacts;
  /** Requests closer together than this share one look at the files. Default 250 ms. */
  minIntervalMs?: number;
  /** Largest read per look, so one request never chews a huge file at once. Default 1 MiB. */
  maxReadBytes?: number;
}

export const previewFile = "val_preview.png";

export class RunWatch {
  readonly runDir: string;
  readonly name: string;
  private fold = new RunFold();
  private offset = 0;
  private decoder = new StringDecoder("utf8");
  private partial = "";
  private config: Record<string, unknown> | null = null;
  private preview: RunSnapshot["preview"] = null;
  private coordinatorAlive = true;
  private lastLook = 0;
  private readonly minIntervalMs: number;
  private readonly maxReadBytes: number;

  constructor(private readonly options: RunWatchOptions) {
    this.runDir = options.runDir;
    this.name = basename(resolve(options.runDir));
    this.minIntervalMs = options.minIntervalMs ?? 250;
    this.maxReadBytes = options.maxReadBytes ?? 1 << 20;
  }

  /** Reads everything there is now (the first look of `view`, however long the file). */
  catchUp(): void {
    while (this.readTail()) {}
    this.lookAround();
    this.lastLook = Date.now();
  }

  snapshot(): RunSnapshot {
    if (Date.now() - this.lastLook >= this.minIntervalMs) {
      this.readTail();
      this.lookAround();
      this.lastLook = Date.now();
    }
    return this.fold.snapshot({
      name: this.name,
      now: Date.now(),
      config: this.config,
      live: this.options.live?.(),
      coordinatorAlive: this.coordinatorAlive,
      preview: this.preview,
    });
  }

  /** Folds the complete lines appended since the last read; true when more is left to read. */
  private readTail(): boolean {
    const path = join(this.runDir, "events.jsonl");
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return false; // not written yet
    }
    if (size < this.offset) {
      // The file was replaced by a shorter one: start over.
      this.fold = new RunFold();
      this.offset = 0;
      this.partial = "";
      this.decoder = new StringDecoder("utf8");
    }
    if (size === this.offset) return false;
    const length = Math.min(size - this.offset, this.maxReadBytes);
    const buffer = Buffer.alloc(length);
    let read = 0;
    const fd = openSync(path, "r");
    try {
      while (read < length) {
        const bytesRead = readSync(fd, buffer, read, length - read, this.offset + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
    } finally {
      closeSync(fd);
    }
    this.offset += read;
    const lines = (this.partial + this.decoder.write(buffer.subarray(0, read))).split("\n");
    // The last piece has no newline yet: the writer may be in the middle of it.
    this.partial = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.trim()) continue;
      let event: StoredEvent;
      try {
        event = JSON.parse(line) as StoredEvent;
      } catch {
        continue; // a line torn by a crash mid-append, as readEvents skips it
      }
      this.fold.apply(event);
    }
    return this.offset < size;
  }

  /** config.json (once it parses), the preview's version and, for `view`, whether a coordinator holds the run. */
  private lookAround(): void {
    // The live coordinator is the holder; `view` asks the lock (a small read and, on this host, a kill(pid, 0)).
    if (!this.options.live) this.coordinatorAlive = liveLockHolder(this.runDir) !== null;
    if (this.config === null) {
      try {
        this.config = JSON.parse(readFileSync(join(this.runDir, "config.json"), "utf8")) as Record<string, unknown>;
      } catch {
        // not written yet (or mid-write: config.json is written atomically, so only "not yet")
      }
    }
    try {
      const s = statSync(join(this.runDir, previewFile));
      this.preview = {
        url: `/${previewFile}?v=${Math.round(s.mtimeMs)}-${s.size}`,
        updatedAt: s.mtime.toISOString(),
      };
    } catch {
      this.preview = null;
    }
  }
}
