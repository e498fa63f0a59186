/**
 * Adam on flat Float32Arrays with PyTorch's semantics (torch.optim.Adam, no weight decay, no amsgrad):
 *   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,
 *   p ← p − (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + ε).
 * No tfjs: every rank runs this same loop on the same all-reduced gradient, so all ranks stay bit-identical.
 */

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export const DEFAULT_ADAM: AdamConfig = { lr: 5e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

/** Everything a checkpoint needs to resume the optimiser exactly. */
export interface AdamState {
  m: Float32Array;
  v: Float32Array;
  step: number;
}

export class Adam {
  readonly config: AdamConfig;
  private m: Float32Array;
  private v: Float32Array;
  private step = 0;

  constructor(
    readonly size: number,
    config: Partial<AdamConfig> = {},
  ) {
    this.config = { ...DEFAULT_ADAM, ...config };
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }

  get steps(): number {
    return this.step;
  }

  /** Updates `params` in place from `grads` (same length), at `lr` (default: the configured rate). */
  update(params: Float32Array, grads: Float32Array, lr = this.config.lr): void {
    if (params.length !== this.size || grads.length !== this.size) {
      throw new Error(`Adam: expected ${this.size} values, got params ${params.length}, grads ${grads.length}`);
    }
    this.step++;
    const { beta1, beta2, eps } = this.config;
    const stepSize = lr / (1 - beta1 ** this.step);
    const invSqrtCorrection2 = 1 / Math.sqrt(1 - beta2 ** this.step);
    const oneMinusBeta1 = 1 - beta1;
    const oneMinusBeta2 = 1 - beta2;
    const m = this.m;
    const v = this.v;
    for (let i = 0; i < params.length; i++) {
      const g = grads[i];
      const mi = beta1 * m[i] + oneMinusBeta1 * g;
      const vi = beta2 * v[i] + oneMinusBeta2 * g * g;
      m[i] = mi;
      v[i] = vi;
      params[i] -= (stepSize * mi) / (Math.sqrt(vi) * invSqrtCorrection2 + eps);
    }
  }

  /** Copies of the moments (a checkpoint written later must not see later steps). */
  getState(): AdamState {
    return { m: this.m.slice(), v: this.v.slice(), step: this.step };
  }

  setState(state: AdamState): void {
    if (state.m.length !== this.size || state.v.length !== this.size) {
      throw new Error(`Adam: state holds ${state.m.length}/${state.v.length} moments, the model ${this.size}`);
    }
    if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`Adam: bad step ${state.step}`);
    this.m = Float32Array.from(state.m);
    this.v = Float32Array.from(state.v);
    this.step = state.step;
  }
}
