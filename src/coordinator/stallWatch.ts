/**
 * Stall detection, as NCCL's watchdog and torch.distributed's timeout: a collective that makes no progress
 * for a bounded time ends the generation. Two watchers share one bound:
 *
 *   - every worker's ring: no frame from the previous rank for the bound → a `failed` message with `stall`
 *     (the bound travels in each plan, and in a `bound` message when the measured step time moves it
 *     mid-plan; worker/loop.ts applies it to the ring's progress timer);
 *   - the coordinator: no step message from any rank for twice the bound while heartbeats still arrive (a
 *     rank stuck where the ring cannot see it) → the session ends naming the ranks that have not reported.
 *
 * In a stalled ring every rank waits, each for its previous neighbour, so one report alone does not say who
 * stalled: the session gathers the reports for a moment and blames the rank that others wait for and that
 * does not itself wait.
 */

/** Until a step has been measured (the first one also builds the kernels): a generous bound. */
export const FIRST_STEP_BOUND_SECONDS = 600;
/** The bound never drops below this, so a slow batch or a busy host is not taken for a stall. */
export const BOUND_FLOOR_SECONDS = 60;
/** The bound in median step times. */
export const BOUND_STEP_MULTIPLE = 10;
/** How long the session waits for the other ranks' stall reports after the first one. */
export const STALL_GATHER_MS = 2000;

/** The durations of the last steps (every rank's), for the bound's median. */
export class StepClock {
  private readonly recent: number[] = [];

  constructor(private readonly keep = 256) {}

  add(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) return;
    this.recent.push(seconds);
    if (this.recent.length > this.keep) this.recent.shift();
  }

  median(): number | null {
    if (this.recent.length === 0) return null;
    const sorted = [...this.recent].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }
}

/** The no-progress bound of a collective: --collective-timeout if given, else derived from step times. */
export function collectiveBoundSeconds(configured: number | null, medianStepSeconds: number | null): number {
  if (configured !== null) return configured;
  if (medianStepSeconds === null) return FIRST_STEP_BOUND_SECONDS;
  return Math.max(BOUND_FLOOR_SECONDS, Math.ceil(BOUND_STEP_MULTIPLE * medianStepSeconds));
}

/** What a waiting rank says (the `stall` of its `failed` message). */
export interface StallReport {
  /** the rank that reports */
  rank: number;
  /** the rank it had no frame from */
  waitingFor: number;
  seconds: number;
  /** the collective and hop, e.g. "all-reduce #17 (reduce-scatter hop 2 of 3, 4 of 12 frames)" */
  where: string;
  /** the training step the collective belongs to */
  step: number;
}

/**
 * One line naming who stalled and where. The stalled ranks are those waited for that report no wait of
 * their own (a stopped, hung or busy process); when every rank waits (a cycle of waits: ranks in different
 * collectives), all the reports are listed.
 */
export function diagnoseStall(reports: readonly StallReport[]): string {
  const waiting = new Set(reports.map((r) => r.rank));
  const blamed = reports.filter((r) => !waiting.has(r.waitingFor));
  const waiters = [...waiting].sort((a, b) => a - b).join(", ");
  if (blamed.length === 0) {
    const each = reports.map((r) => `rank ${r.rank} waited for rank ${r.waitingFor} in ${r.where}`).join("; ");
    return `every reporting rank waited in the ring at step ${reports[0]?.step ?? "?"}: ${each}`;
  }
  const culprits = [...new Set(blamed.map((r) => r.waitingFor))].sort((a, b) => a - b);
  const first = blamed[0];
  return (
    `rank${culprits.length > 1 ? "s" : ""} ${culprits.join(", ")} stalled: rank ${first.rank} had no frame from ` +
    `rank ${first.waitingFor} for ${first.seconds} s in ${first.where} at step ${first.step}; ` +
    `rank${waiting.size > 1 ? "s" : ""} ${waiters} waited in the ring`
  );
}
