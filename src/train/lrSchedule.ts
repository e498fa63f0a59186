/**
 * Learning rate as a pure function of the global step, so a resumed run (which knows its step) follows
 * exactly the schedule of an uninterrupted one without any state in the checkpoint.
 *
 * constant: the reference model's Adam at a fixed lr.
 * cosine:   a short linear warm-up, then half a cosine from lr down to lr·minFraction at the last step.
 *           A decaying rate settles the weights (and with them batch norm's running statistics) at the end
 *           of short runs, where a constant rate leaves validation Dice jumping between checks.
 */
export type LrScheduleName = "constant" | "cosine";

export interface LrSchedule {
  name: LrScheduleName;
  lr: number;
  totalSteps: number;
  warmupSteps?: number;
  minFraction?: number;
}

export function learningRateAt(step: number, schedule: LrSchedule): number {
  const { name, lr, totalSteps } = schedule;
  if (name === "constant") return lr;
  const warmup = schedule.warmupSteps ?? Math.min(100, Math.floor(totalSteps / 20));
  const minFraction = schedule.minFraction ?? 0.02;
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const progress = Math.min(1, (step - warmup) / Math.max(1, totalSteps - warmup));
  return lr * (minFraction + (1 - minFraction) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
