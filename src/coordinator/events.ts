/**
 * RUN/events.jsonl: one JSON object per line, appended as things happen, so a crash loses at most the
 * line being written. Readers (tests, plots, notebooks) parse each line; every event has `type` and `time`.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

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

  constructor(runDir: string) {
    this.path = join(runDir, "events.jsonl");
  }

  write(event: RunEvent): void {
    appendFileSync(this.path, `${JSON.stringify({ ...event, time: new Date().toISOString() })}\n`);
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
