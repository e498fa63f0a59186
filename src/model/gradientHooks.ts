import * as tf from "@tensorflow/tfjs";
import type { GradientTap, NamedVariable } from "./unet.js";

/**
 * Per-parameter gradient hooks, as PyTorch DDP's autograd hooks: each parameter's gradient lands in one flat
 * Float32Array (unet.params order, the ring's layout) the moment backward has produced it, and `onReady`
 * says so, which is what lets the caller all-reduce a bucket of parameters while backward goes on.
 *
 *   hooks.begin(grads, factor, onReady);                  // before the forward
 *   unet.apply(x, true, hooks);                           // each parameter use goes through hooks.use
 *   hooks.forwardDone();                                  // after the forward: parameters without a gradient
 *   tf.variableGrads(...)                                 // backward: onReady(i) as gradients arrive
 *   hooks.finish();                                       // any parameter not reported yet: now
 *
 * How backward is observed: tfjs's engine walks the tape in reverse, calling each op's gradient function
 * once with the gradient of its output. `use` wraps a parameter in an identity op recorded right where the
 * forward takes it; the identity's gradient function is called with the parameter's whole gradient (for
 * that use) just after backward has gone through the op that consumed it, i.e. last layers first.
 *
 * A parameter used several times gets one identity per use; its gradient is their sum and it is ready when
 * the last one has come. A use whose result never reaches the loss gets no gradient call at all (tfjs
 * prunes it from the tape), hence `finish`. The flat array is written only here: copies, not views, so no
 * tensor outlives the step.
 */
export class GradientHooks implements GradientTap {
  private readonly index = new Map<string, number>();
  private readonly offsets: number[] = [];
  /** Uses per parameter in this forward whose gradient has not come yet. */
  private readonly pending: Int32Array;
  /** Per parameter: 0 nothing yet, 1 part of its gradient written, 2 reported ready. */
  private readonly state: Uint8Array;
  private noGradient: number[] = [];
  private into: Float32Array = new Float32Array(0);
  private factor = 1;
  private onReady: (index: number) => void = () => {};

  constructor(private readonly params: readonly NamedVariable[]) {
    let offset = 0;
    for (const [i, { variable }] of params.entries()) {
      this.index.set(variable.name, i);
      this.offsets.push(offset);
      offset += variable.size;
    }
    this.pending = new Int32Array(params.length);
    this.state = new Uint8Array(params.length);
  }

  /** Starts a step: gradients × `factor` go into `into`; `onReady(i)` once parameter i's are all there. */
  begin(into: Float32Array, factor: number, onReady: (index: number) => void): void {
    this.into = into;
    this.factor = factor;
    this.onReady = onReady;
    this.pending.fill(0);
    this.state.fill(0);
    this.noGradient = [];
  }

  use<T extends tf.Tensor>(variable: tf.Variable): T {
    const i = this.indexOf(variable);
    this.pending[i]++;
    return this.identity(variable, i) as T;
  }

  withoutGradient(variable: tf.Variable): void {
    this.noGradient.push(this.indexOf(variable));
  }

  /**
   * The forward is done: parameters it declared gradient-free are zeros and ready now, before backward
   * starts (not at once when declared, so that the caller sees no gradient before it has seen the loss).
   */
  forwardDone(): void {
    for (const i of this.noGradient) {
      if (this.pending[i] === 0 && this.state[i] === 0) this.complete(i);
    }
  }

  /** Backward is done: whatever was not reported (not used, or a use that did not reach the loss) is now. */
  finish(): void {
    for (let i = this.params.length - 1; i >= 0; i--) {
      if (this.state[i] !== 2) this.complete(i);
    }
  }

  private indexOf(variable: tf.Variable): number {
    const i = this.index.get(variable.name);
    if (i === undefined) throw new Error(`GradientHooks: ${variable.name} is not a parameter of this net`);
    return i;
  }

  private identity(variable: tf.Variable, i: number): tf.Tensor {
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
      // clone shares the data: no copy in the forward
      value: tf.clone(args[0] as tf.Tensor),
      gradFunc: (dy: tf.Tensor) => {
        this.receive(i, dy);
        return dy;
      },
    }));
    return op(variable);
  }

  private receive(i: number, dy: tf.Tensor): void {
    const values = dy.dataSync() as Float32Array;
    const offset = this.offsets[i];
    const out = this.into.subarray(offset, offset + values.length);
    const f = this.factor;
    if (this.state[i] === 0) {
      if (f === 1) out.set(values);
      else for (let k = 0; k < out.length; k++) out[k] = values[k] * f;
      this.state[i] = 1;
    } else {
      for (let k = 0; k < out.length; k++) out[k] += values[k] * f;
    }
    if (--this.pending[i] === 0) this.complete(i);
  }

  private complete(i: number): void {
    if (this.state[i] === 0) {
      const offset = this.offsets[i];
      this.into.fill(0, offset, offset + this.params[i].variable.size);
    }
    this.state[i] = 2;
    this.onReady(i);
  }
}
