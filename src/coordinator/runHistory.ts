/**
 * The figures of a run that the plots and the summary need, rebuilt from events.jsonl on resume so the
 * curves continue where they stopped (steps after the checkpoint were lost and are run again).
 */
import type { StoredEvent } from "./events.js";
import type { ValidationResult } from "./validation.js";

export class RunHistory {
  /** [global step, loss averaged over ranks] */
  loss: [number, number][] = [];
  /** [global step, Dice] per foreground class name, and "mean" */
  dice = new Map<string, [number, number][]>();
  best: number | null = null;
  private voxelsPerSecond: number[] = [];

  static fromEvents(events: StoredEvent[], upToStep: number): RunHistory {
    const h = new RunHistory();
    for (const e of events) {
      if (e.type === "step" && e.step <= upToStep) {
        h.loss.push([e.step, e.loss]);
        h.voxelsPerSecond.push(e.voxelsPerSecond);
      }
      if (e.type === "validation" && e.step <= upToStep) {
        h.addDice(e.step, e.dice, e.dice_mean);
      }
    }
    return h;
  }

  /** One step of the run: its loss averaged over ranks and the voxels/s of all ranks together. */
  addStep(step: number, loss: number, voxelsPerSecond: number): void {
    // A restart runs steps again from the checkpoint: the newer figures replace the lost ones.
    while (this.loss.length > 0 && this.loss[this.loss.length - 1][0] >= step) this.loss.pop();
    this.loss.push([step, loss]);
    this.voxelsPerSecond.push(voxelsPerSecond);
  }

  /** Records a validation; true when it is the best so far. */
  addValidation(step: number, result: ValidationResult): boolean {
    return this.addDice(step, result.dice, result.mean);
  }

  private addDice(step: number, dice: Record<string, number>, mean: number): boolean {
    for (const [name, value] of [...Object.entries(dice), ["mean", mean] as const]) {
      const series = this.dice.get(name) ?? [];
      series.push([step, value]);
      this.dice.set(name, series);
    }
    const isBest = this.best === null || mean > this.best;
    if (isBest) this.best = mean;
    return isBest;
  }

  diceSeries(): Record<string, [number, number][]> {
    return Object.fromEntries(this.dice);
  }

  /** Mean voxels/s of the whole run over the steps recorded. */
  meanVoxelsPerSecond(): number {
    const v = this.voxelsPerSecond;
    return v.length === 0 ? Number.NaN : v.reduce((a, b) => a + b, 0) / v.length;
  }
}
