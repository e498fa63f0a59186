import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EventLog } from "../../../src/coordinator/events.js";

const restart = { type: "restart", count: 1, reason: "r", fromStep: 3 } as const;

describe("events.jsonl", () => {
  const torn: [string, string, string][] = [
    ["a torn last line after whole ones", '{"type":"step","step":1}\n{"type":"step","st', '{"type":"step","step":1}\n'],
    ["a file holding only a torn line", '{"type":"sta', ""],
    ["a whole file", '{"type":"step","step":1}\n', '{"type":"step","step":1}\n'],
    ["an empty file", "", ""],
  ];
  it.each(torn)("%s: the torn tail is cut on open, and the next event is a line of its own", (_what, before, kept) => {
    const dir = mkdtempSync(join(tmpdir(), "voxring-events-"));
    writeFileSync(join(dir, "events.jsonl"), before);
    const log = new EventLog(dir);
    expect(log.repairedBytes).toBe(before.length - kept.length);
    expect(readFileSync(log.path, "utf8")).toBe(kept);
    log.write(restart);
    const text = readFileSync(log.path, "utf8");
    expect(text.startsWith(kept)).toBe(true);
    expect(JSON.parse(text.slice(kept.length))).toMatchObject(restart);
    expect(log.read().at(-1)).toMatchObject(restart);
  });

  it("finds the last newline of a torn line longer than one read chunk", () => {
    const dir = mkdtempSync(join(tmpdir(), "voxring-events-"));
    const whole = '{"type":"step","step":1}\n';
    writeFileSync(join(dir, "events.jsonl"), `${whole}{"x":"${"a".repeat(200_000)}`);
    const log = new EventLog(dir);
    expect(readFileSync(log.path, "utf8")).toBe(whole);
  });
});
