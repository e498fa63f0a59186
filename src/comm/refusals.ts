/**
 * Reports refused control messages without flooding the log: the first few of each window are logged in
 * full (with the sender's routing id as hex, never the raw bytes), the rest are counted and summed up in
 * one line when the window closes. A peer that sends garbage as fast as it can costs a few lines a minute.
 */
export class RefusalLog {
  private windowStart = 0;
  private logged = 0;
  private suppressed = 0;
  private suppressedFrom = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: (line: string) => void,
    private readonly perWindow = 5,
    private readonly windowMs = 10_000,
  ) {}

  refused(from: string | null, reason: string): void {
    const now = Date.now();
    if (now - this.windowStart >= this.windowMs) this.flush();
    if (this.logged < this.perWindow) {
      this.logged++;
      // The reason may quote what the peer sent: printable ASCII only, and not much of it.
      const printable = reason.replace(/[^ -~]/g, "?").slice(0, 300);
      this.log(`control: refused a message${from === null ? "" : ` from peer ${from}`}: ${printable}`);
      return;
    }
    this.suppressed++;
    if (from !== null) this.suppressedFrom.add(from);
    if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), Math.max(0, this.windowStart + this.windowMs - now));
      this.timer.unref();
    }
  }

  /** Logs the summary of what was counted but not logged, and opens a new window (also at close). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.suppressed > 0) {
      const peers = this.suppressedFrom.size > 0 ? ` from ${this.suppressedFrom.size} peer(s)` : "";
      this.log(`control: refused ${this.suppressed} more message(s)${peers} since the last report`);
    }
    this.suppressed = 0;
    this.suppressedFrom.clear();
    this.windowStart = Date.now();
    this.logged = 0;
  }
}

/** A routing id as people can read it: hex, at most 8 bytes (ZeroMQ's own ids are 5). */
export function printablePeerId(id: Buffer): string {
  const hex = id.subarray(0, 8).toString("hex");
  return id.length > 8 ? `${hex}...` : hex;
}
