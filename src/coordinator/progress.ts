/**
 * What the coordinator tells the person watching: a cli-progress bar per epoch when stderr is a terminal
 * (loss, voxels/s, ETA), plain timestamped log lines otherwise (at most one step line every few seconds,
 * so a fast smoke run does not flood a CI log), and the end-of-run summary table.
 */
import cliProgress from "cli-progress";

export interface StepProgress {
  epoch: number;
  stepInEpoch: number;
  stepsPerEpoch: number;
  globalStep: number;
  loss: number;
  voxelsPerSecond: number;
}

export class Progress {
  private readonly tty: boolean;
  private multibar: cliProgress.MultiBar | null = null;
  private bar: cliProgress.SingleBar | null = null;
  private barEpoch = -1;
  private lastPlainLine = 0;

  constructor(
    private readonly epochs: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(stream.isTTY) && !process.env.CI;
  }

  log(message: string): void {
    const line = `[voxring ${new Date().toISOString().slice(11, 19)}] ${message}`;
    if (this.multibar) this.multibar.log(`${line}\n`);
    else this.stream.write(`${line}\n`);
  }

  step(p: StepProgress): void {
    const payload = { loss: p.loss.toFixed(4), vps: formatCount(p.voxelsPerSecond) };
    if (this.tty) {
      if (this.barEpoch !== p.epoch) this.startBar(p.epoch, p.stepsPerEpoch);
      this.bar?.update(p.stepInEpoch, payload);
      return;
    }
    const now = Date.now();
    const last = p.stepInEpoch === p.stepsPerEpoch;
    if (!last && now - this.lastPlainLine < 5000) return;
    this.lastPlainLine = now;
    this.log(
      `epoch ${p.epoch + 1}/${this.epochs} step ${p.stepInEpoch}/${p.stepsPerEpoch} (global ${p.globalStep})` +
        ` loss ${payload.loss} ${payload.vps} voxels/s`,
    );
  }

  private startBar(epoch: number, total: number): void {
    this.multibar ??= new cliProgress.MultiBar(
      {
        stream: this.stream,
        format: `epoch {epoch} [{bar}] {value}/{total} | loss {loss} | {vps} vox/s | ETA {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar?.stop();
    this.bar = this.multibar.create(total, 0, { epoch: `${epoch + 1}/${this.epochs}`, loss: "-", vps: "-" });
    this.barEpoch = epoch;
  }

  close(): void {
    this.bar?.stop();
    this.multibar?.stop();
    this.multibar = null;
    this.bar = null;
  }

  /** A two-column table, e.g. the end-of-run summary. */
  table(title: string, rows: [string, string][]): void {
    this.close();
    const width = Math.max(...rows.map(([k]) => k.length));
    const lines = [title, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)];
    this.stream.write(`${lines.join("\n")}\n`);
  }
}

export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return "-";
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}
