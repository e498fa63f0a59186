import { describe, expect, it } from "vitest";
import { PeerGuard, refusal } from "../../../src/coordinator/peerGuard.js";
import type { WorkerMessage } from "../../../src/protocol/messages.js";

const failed = (rank: number): WorkerMessage => ({ type: "failed", rank, kind: "crash", message: "forged" });
const hello: WorkerMessage = { type: "hello", host: "h", pid: 1, localIndex: 0 };
const heartbeat = (rank: number): WorkerMessage => ({ type: "heartbeat", rank, step: 0 });

describe("control messages the session acts on", () => {
  const cases: [string, { rank: number } | undefined, WorkerMessage, RegExp | null][] = [
    ["a hello from a new peer", undefined, hello, null],
    ["failed from a routing id that never joined", undefined, failed(0), /never joined this generation/],
    ["a second hello", { rank: 1 }, hello, /already joined/],
    ["failed claiming another rank", { rank: 1 }, failed(0), /claims rank 0, the sender joined as rank 1/],
    ["failed as itself", { rank: 1 }, failed(1), null],
    ["failed before its assignment arrived", { rank: 1 }, failed(-1), null],
    ["a heartbeat before assignment", { rank: -1 }, heartbeat(-1), null],
    [
      "a heartbeat claiming a rank before assignment",
      { rank: -1 },
      heartbeat(0),
      /claims rank 0, the sender joined as rank -1/,
    ],
  ];
  it.each(cases)("%s", (_what, peer, message, expected) => {
    const problem = refusal(peer, message);
    if (expected === null) expect(problem).toBeNull();
    else expect(problem).toMatch(expected);
  });

  it("counts every drop and logs only the first few", () => {
    const lines: string[] = [];
    const guard = new PeerGuard((l) => lines.push(l));
    for (let i = 0; i < 100; i++) expect(guard.admit(undefined, failed(0), "intruder")).toBe(false);
    expect(guard.admit({ rank: 0 }, failed(0), "rank0")).toBe(true);
    expect(guard.dropped).toBe(100);
    expect(lines).toHaveLength(5);
    expect(lines[0]).toBe(
      "control: dropped a failed message from peer 696e747275646572: the sender never joined this generation",
    );
  });
});
