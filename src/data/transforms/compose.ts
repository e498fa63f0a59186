import { Rng } from "../../random.js";
import { isRandomizable, type Sample, type Transform } from "./base.js";

/**
 * Runs transforms in order. `setRandomState(seed)` seeds each random child from Compose's own generator
 * (MONAI's rule), so one seed fixes the whole chain and adding a child does not reseed the ones before it.
 */
export class Compose implements Transform<Sample> {
  readonly name = "Compose";
  private rng = new Rng(0);

  constructor(readonly transforms: Transform<Sample>[]) {
    this.setRandomState(0);
  }

  setRandomState(seed: number): this {
    this.rng = new Rng(seed);
    for (const t of this.transforms) if (isRandomizable(t)) t.setRandomState(this.rng.nextUint32());
    return this;
  }

  apply(sample: Sample): Sample {
    let out = sample;
    for (const t of this.transforms) out = t.apply(out);
    return out;
  }
}
