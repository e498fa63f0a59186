/**
 * Another user of the same host against a running training run: every control and ring socket speaks CURVE with
 * the run's keys, on loopback too, so `nobody` (setpriv) cannot get a frame in; a process that did steal the keys
 * still cannot act as a rank it never joined as; and a worker given the wrong keys says so at once.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateRunKeys, RUN_KEYS_ENV, writeRunKeys } from "../../src/comm/security.js";
import { listCheckpoints, readCheckpoint, resolveCheckpoint } from "../../src/train/checkpoint.js";
import { events, flatParams, maxAbsDiff, run, runModule, start, tempRun, workerPids } from "./trainHelpers.js";

const args = (out: string) => [
  // Long enough that the forgeries land while it runs: about 10 s of steps on a quiet machine, five times
  // the forgers' 2 s (80 steps an epoch took about 4 s: too close on a slow CI, where a run ended first).
  ...["--preset", "smoke", "--gpus", "2", "--epochs", "3", "--steps-per-epoch", "200"],
  ...["--deterministic", "--seed", "7", "--out", out, "--metrics-port", "0"],
];

async function controlEndpoint(output: () => { stderr: string }): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const match = /coordinator listening on (tcp:\/\/\S+)/.exec(output().stderr);
    if (match) return match[1];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no control endpoint in: ${output().stderr}`);
}

/**
 * Sends the issue's forgeries for `seconds`: four `failed` and a `state` of weights 12345 at step 424242, from a
 * fresh DEALER (plaintext, or CURVE with `keys`). Prints how many sends got through and the handshake outcome.
 */
const forger = (endpoint: string, seconds: number, keys?: { publicKey: string; secretKey: string }) => `
  import * as zmq from "zeromq";
  import { pack } from "msgpackr";
  const d = new zmq.Dealer({ sendTimeout: 500, linger: 0, immediate: true });
  ${keys ? `const mine = zmq.curveKeyPair(); d.curveServerKey = ${JSON.stringify(keys.publicKey)}; d.curvePublicKey = mine.publicKey; d.curveSecretKey = mine.secretKey;` : ""}
  const seen = { handshake: 0, refused: 0 };
  (async () => { for await (const e of d.events) { if (e.type === "handshake") seen.handshake++; else if (e.type.startsWith("handshake:error")) seen.refused++; } })();
  d.connect(${JSON.stringify(endpoint)});
  const weights = new Float32Array(1024).fill(12345);
  const header = { globalStep: 424242, epoch: 2, stepInEpoch: 0, optimizerStep: 424242, lossScale: null, skippedSteps: 0, paramsLength: 1024, statsLength: 0 };
  let sent = 0;
  const until = Date.now() + ${seconds * 1000};
  while (Date.now() < until) {
    for (const m of [0, 1, 0, 1].map((rank) => ({ type: "failed", rank, kind: "crash", message: "forged by nobody" }))) {
      try { await d.send([pack(m)]); sent++; } catch {}
    }
    try { await d.send([pack({ type: "state", rank: 0, header, byteLengths: [4096, 0, 4096, 4096] }), Buffer.from(weights.buffer), Buffer.alloc(0), Buffer.from(weights.buffer), Buffer.from(weights.buffer)]); sent++; } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  d.close();
  console.log(JSON.stringify({ sent, ...seen }));
`;

describe("an intruder on the same host", () => {
  it("nobody cannot join, forge or disturb a run; stolen keys still cannot speak for a rank", async () => {
    const straight = tempRun("undisturbed");
    expect((await run(args(straight))).code).toBe(0);

    const out = tempRun("intruded");
    const running = start(args(out));
    const endpoint = await controlEndpoint(running.output);
    // root, reading the keys from a worker's environment, connects fine but never joined this generation
    let pids: number[] = [];
    while (pids.length < 2) {
      await new Promise((r) => setTimeout(r, 50));
      pids = workerPids(running.child.pid as number);
    }
    const environ = readFileSync(`/proc/${pids[0]}/environ`, "latin1").split("\0");
    const value = (name: string) => environ.find((kv) => kv.startsWith(`${name}=`))?.slice(name.length + 1) ?? "";
    const stolen = { publicKey: value(RUN_KEYS_ENV.publicKey), secretKey: value(RUN_KEYS_ENV.secretKey) };
    expect(stolen.publicKey).toHaveLength(40);

    const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    const [plain, wrongKey, insider] = (
      await Promise.all([
        runModule(forger(endpoint, 2), { via: asNobody, label: "forger (nobody, plaintext)" }),
        runModule(forger(endpoint, 2, generateRunKeys()), { via: asNobody, label: "forger (nobody, CURVE)" }),
        runModule(forger(endpoint, 2, stolen), { label: "forger (stolen keys)" }),
      ])
    ).map((o) => JSON.parse(o.trim()));
    for (const o of [plain, wrongKey]) {
      expect(o.handshake).toBe(0); // never authenticated
      expect(o.refused).toBeGreaterThan(0);
      expect(o.sent).toBe(0); // not one message reached the coordinator
    }
    expect(insider.handshake).toBe(1);
    expect(insider.sent).toBeGreaterThan(0);
    expect(running.child.exitCode).toBeNull(); // the forgeries landed while the run was going

    const result = await running.done;
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/control: dropped a failed message from .*: the sender never joined this generation/);
    const e = events(out);
    expect(e.filter((x) => x.type === "restart")).toEqual([]);
    expect(e.at(-1)).toMatchObject({ type: "end", status: "completed", step: 3 * 200 });
    // the checkpoints are the run's own: bit for bit those of the undisturbed run
    expect(maxAbsDiff(flatParams(out), flatParams(straight))).toBe(0);
    // Which steps get validated depends on timing (one that finds the last still running is skipped), so the
    // best is compared with the undisturbed run's checkpoint of the same step.
    const bestStep = readCheckpoint(resolveCheckpoint(out, "best")).globalStep;
    const twin = listCheckpoints(straight).find((path) => readCheckpoint(path).globalStep === bestStep);
    expect(twin, `the undisturbed run has no checkpoint of step ${bestStep}`).toBeDefined();
    expect(maxAbsDiff(flatParams(out, "best"), flatParams(straight, twin as string))).toBe(0);
  });

  it("a worker with the wrong key file fails fast: one line, exit 2", async () => {
    const out = tempRun("wrongkey");
    const running = start([...args(out), "--gpus", "1", "--remote-workers", "1"]);
    try {
      const endpoint = await controlEndpoint(running.output);
      const wrong = join(out, "..", "wrong.keys");
      writeRunKeys(wrong, generateRunKeys());
      const worker = await run(["worker", "--coordinator", endpoint, "--key-file", wrong]);
      expect(worker.code).toBe(2);
      const lines = worker.stderr.trim().split("\n");
      expect(lines.at(-1)).toMatch(
        new RegExp(
          `^orchestrate worker: ${endpoint}: the security handshake failed 3 times .*: wrong keys for this coordinator \\(--key-file ${wrong}\\)$`,
        ),
      );
    } finally {
      running.child.kill("SIGKILL");
      await running.done;
    }
  });
});
