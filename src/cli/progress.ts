// A progress line on stderr: redrawn in place on a terminal, a line every few seconds otherwise.
// Under `mvsr worker` (MVSR_PROGRESS=ipc and an IPC channel) it goes to the worker as a message
// instead, which shows it as the job's progress.

const toWorker = process.env.MVSR_PROGRESS === 'ipc' && typeof process.send === 'function';

/** A bar of `width` cells, the fraction `p` of them filled. */
export function barGlyphs(p: number, width: number): string {
  const fill = Math.round(width * Math.min(1, Math.max(0, p)));
  return '█'.repeat(fill) + '░'.repeat(width - fill);
}

export class Progress {
  private readonly t0 = performance.now();
  private last = 0;
  private readonly tty = !!process.stderr.isTTY;

  constructor(private readonly label: string, private total: number, private readonly unit = '') {}

  /** `rate` (units/s) and `eta` (s), when the caller measures them better (e.g. a resumed run). */
  update(done: number, extra = '', measured?: { rate: number; eta: number }): void {
    const now = performance.now();
    if (toWorker) {
      if (done < this.total && now - this.last < 200) return;
      this.last = now;
      process.send!({ progress: { label: this.label, done, total: this.total } });
      return;
    }
    if (this.total <= 0) {
      // unknown total (e.g. a video without a frame count): a throttled counter
      if (now - this.last < (this.tty ? 100 : 5000)) return;
      this.last = now;
      const rate = done / Math.max((now - this.t0) / 1000, 1e-9);
      const line = `${this.label} ${done}${this.unit} ${rate.toFixed(rate < 10 ? 2 : 0)}${this.unit || ' it'}/s${extra ? ' ' + extra : ''}`;
      process.stderr.write(this.tty ? `\r\x1b[2K${line}` : line + '\n');
      return;
    }
    const finished = done >= this.total;
    if (!finished && now - this.last < (this.tty ? 100 : 5000)) return;
    this.last = now;
    const el = (now - this.t0) / 1000;
    const rate = measured?.rate ?? done / Math.max(el, 1e-9);
    const eta = measured?.eta ?? (rate > 0 ? (this.total - done) / rate : 0);
    const pct = this.total ? Math.floor((100 * done) / this.total) : 100;
    const width = 24;
    const bar = barGlyphs(pct / 100, width);
    const line = `${this.label} ${bar} ${pct}% ${done}/${this.total}${this.unit} ${rate.toFixed(rate < 10 ? 2 : 0)}${this.unit || ' it'}/s ETA ${fmtTime(eta)}${extra ? ' ' + extra : ''}`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}${finished ? '\n' : ''}`);
    else process.stderr.write(line + '\n');
  }

  setTotal(total: number): void {
    this.total = total;
  }
}

export function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60), r = Math.round(s % 60);
  return m ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}
