/**
 * Hard Dice per class on label maps, for validation and prediction reports. Framework-free (typed arrays
 * only) so the coordinator can score sliding-window output without tfjs. The differentiable soft Dice used
 * for training is the fused op in ./ops/softDice.ts.
 */

/**
 * Dice of each class k in [0, numClasses): 2·|pred=k ∧ truth=k| / (|pred=k| + |truth=k|).
 * A class absent from both maps scores 1 (nothing to find, nothing wrongly found), the usual convention
 * (MONAI's `ignore_empty=False` scores it 1 too), so a case without, say, a transition zone is not
 * punished for predicting none.
 */
export function diceScores(pred: Uint8Array, truth: Uint8Array, numClasses: number): number[] {
  if (pred.length !== truth.length) {
    throw new Error(`diceScores: prediction has ${pred.length} voxels, truth ${truth.length}`);
  }
  const both = new Float64Array(numClasses);
  const predCount = new Float64Array(numClasses);
  const truthCount = new Float64Array(numClasses);
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i];
    const t = truth[i];
    if (p >= numClasses || t >= numClasses) {
      throw new Error(`diceScores: label ${Math.max(p, t)} at voxel ${i} is not below ${numClasses} classes`);
    }
    predCount[p]++;
    truthCount[t]++;
    if (p === t) both[p]++;
  }
  const scores: number[] = [];
  for (let k = 0; k < numClasses; k++) {
    const total = predCount[k] + truthCount[k];
    scores.push(total === 0 ? 1 : (2 * both[k]) / total);
  }
  return scores;
}

/** Mean Dice over the foreground classes (1..K−1): the headline figure, background would flatter it. */
export function meanForegroundDice(scores: number[]): number {
  if (scores.length < 2) throw new Error("meanForegroundDice: needs at least one foreground class");
  const foreground = scores.slice(1);
  return foreground.reduce((a, b) => a + b, 0) / foreground.length;
}
