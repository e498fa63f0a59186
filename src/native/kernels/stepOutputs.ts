/**
 * The native kernels' large outputs, handed out again at the next training step instead of allocated anew.
 *
 * Why: a step of the default U-Net makes the same few dozen activation- and gradient-sized arrays every time
 * (60 MB at patch 32×32×16, 20× that at 96×96×32×2). V8 counts every ArrayBuffer as external memory and starts
 * a full mark-compact for each 64 MB of it, so a worker ran one to three major GCs a step with a heap that
 * never grew; on a host with fewer cores than ranks their marking threads took CPU from the other ranks.
 *
 *   stepOutputs.begin();                 // Trainer.computeGradients, before the forward
 *   stepOutputs.float32(n)               // a kernel output the kernel writes in full
 *   stepOutputs.end(stillHeld, clean);   // after the step's tf.tidy
 *
 * When an array can be handed out again: only once the step is over, never during it, because the cpu
 * backend's contiguous Slice returns views of its input, and a view can outlive the tensor it came from
 * while the step runs. After the tidy nothing made in the step is alive but what `stillHeld` names (the
 * variables' arrays: an assign keeps a new one) — unless the step leaked a tensor (`clean` false), which
 * could hold anything: then nothing is reused. The pool is exactly the last clean step's arrays, so it is
 * bounded by one step and stays flat; arrays the next step does not ask for are dropped at its end.
 */
export class StepOutputs {
  /** Arrays below this are left to V8: per-channel statistics and the like, a few KB a step in all. */
  static readonly MIN_BYTES = 64 * 1024;
  private free = new Map<number, Float32Array[]>();
  private taken: Float32Array[] = [];
  private inStep = false;

  begin(): void {
    this.inStep = true;
    this.taken = [];
  }

  /** An uninitialised Float32Array of `length` (old values of an earlier step, or garbage): write it in full. */
  float32(length: number): Float32Array {
    if (!this.inStep || length * Float32Array.BYTES_PER_ELEMENT < StepOutputs.MIN_BYTES) return allocate(length);
    const array = this.free.get(length)?.pop() ?? allocate(length);
    this.taken.push(array);
    return array;
  }

  /**
   * The step is over (its tensors disposed). `stillHeld`: buffers that tensors made before the step may now
   * hold (variables after an assign); `clean`: no tensor made in the step is alive beyond those.
   */
  end(stillHeld: Iterable<ArrayBufferLike>, clean: boolean): void {
    this.inStep = false;
    const held = new Set(stillHeld);
    this.free = new Map();
    if (clean) {
      for (const array of this.taken) {
        if (held.has(array.buffer)) continue;
        const list = this.free.get(array.length);
        if (list) list.push(array);
        else this.free.set(array.length, [array]);
      }
    }
    this.taken = [];
  }

  /** Bytes held for the next step. */
  get pooledBytes(): number {
    let bytes = 0;
    for (const list of this.free.values()) for (const a of list) bytes += a.byteLength;
    return bytes;
  }
}

/** `new Float32Array(n)` zero-fills (a 37 MB memset for a [2,32,96,96,16] activation) only to be overwritten. */
function allocate(length: number): Float32Array {
  const bytes = Buffer.allocUnsafeSlow(length * Float32Array.BYTES_PER_ELEMENT);
  return new Float32Array(bytes.buffer, bytes.byteOffset, length);
}

export const stepOutputs = new StepOutputs();
