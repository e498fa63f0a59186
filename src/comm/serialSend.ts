/**
 * ZeroMQ allows one pending `send` per socket: this queues sends in call order and gives each caller the
 * promise of its own send. A failed send does not block the ones after it (each sees its own result).
 */
export interface FrameSink {
  send(frames: Buffer[]): Promise<void>;
}

export class SerialSender {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly socket: FrameSink) {}

  send(frames: Buffer[]): Promise<void> {
    const sent = this.tail.then(() => this.socket.send(frames));
    this.tail = sent.catch(() => {});
    return sent;
  }

  /** Settles once every send queued so far has settled. */
  idle(): Promise<void> {
    return this.tail.then(() => {});
  }
}
