/**
 * RUN/events.jsonl: one JSON object per line, appended as things happen, so a crash loses at most the
 * line being written. Readers (tests, plots, notebooks) parse each line; every event has `type` and `time`.
 */
import {
  appendFileSync,
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
} from "node:fs";
import { join } from "node:path";
import { asEnvironmentError } from "../errors.js";

export type RunEvent =
  | {
      type: "start";
      resumedFrom: string | null;
      worldSize: number;
      backend: string;
      threads: number;
      /** Foreground class names (dataset.json labels) and the plan, so a reader needs no other file. */
      classes?: string[];
      stepsPerEpoch?: number;
    }
  | {
      type: "step";
      step: number;
      epoch: number;
      loss: number;
      seconds: number;
      allreduceSeconds: number;
      voxelsPerSecond: number;
      lossScale: number;
      skipped: boolean;
      /**
       * This step was logged before (a restart or a resume ran it again from a checkpoint): this line
       * replaces the earlier one, whose loss belonged to weights that were thrown away.
       */
      redo?: true;
    }
  | {
      type: "validation";
      step: number;
      epoch: number;
      dice: Record<string, number>;
      dice_mean: number;
      seconds: number;
    }
  | { type: "checkpoint"; step: number; epoch: number; path: string; best: boolean }
  | { type: "restart"; count: number; reason: string; fromStep: number }
  | { type: "export"; bundle: string; prediction: string | null }
  | {
      type: "end";
      status: "completed" | "stopped" | "failed";
      step: number;
      epoch: number;
      bestDiceMean: number | null;
      seconds: number;
      reason?: string;
    };

export type StoredEvent = RunEvent & { time: string };

export class EventLog {
  readonly path: string;

  /** Bytes of a torn last line (a crash mid-append) cut off on open, so the next line is not glued to it. */
  readonly repairedBytes: number;

  constructor(runDir: string) {
    this.path = join(runDir, "events.jsonl");
    this.repairedBytes = cutTornTail(this.path);
  }

  /** Appends one whole line with a single write (O_APPEND), so lines never interleave. */
  write(event: RunEvent): void {
    try {
      appendFileSync(this.path, `${JSON.stringify({ ...event, time: new Date().toISOString() })}\n`);
    } catch (error) {
      throw asEnvironmentError(error, this.path, `the ${event.type} event`);
    }
  }

  /** Every complete line so far (a torn last line after a crash is ignored). */
  read(): StoredEvent[] {
    return readEvents(this.path);
  }
}

export function readEvents(path: string): StoredEvent[] {
  if (!existsSync(path)) return [];
  const events: StoredEvent[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      events.push(JSON.parse(line) as StoredEvent);
    } catch {
      // a line torn by a crash mid-append
    }
  }
  return events;
}

/** Truncates the file after its last newline; returns how many bytes went. */
export function cutTornTail(path: string): number {
  if (!existsSync(path)) return 0;
  const fd = openSync(path, "r+");
  try {
    const size = fstatSync(fd).size;
    const chunk = Buffer.alloc(64 * 1024);
    // Scan back from the end for the last newline; a line is a few hundred bytes, so this reads one chunk.
    for (let end = size; end > 0; ) {
      const start = Math.max(0, end - chunk.byteLength);
      const n = readSync(fd, chunk, 0, end - start, start);
      const newline = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (newline >= 0) {
        const keep = start + newline + 1;
        if (keep < size) ftruncateSync(fd, keep);
        return size - keep;
      }
      end = start;
    }
    if (size > 0) ftruncateSync(fd, 0); // one torn line and nothing else
    return size;
  } finally {
    closeSync(fd);
  }
}
