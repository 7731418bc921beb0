// The runner's progress: a bar (cli-progress) over all scenarios, weighted by their expected times, with an estimate of the time left.
import cliProgress from 'cli-progress';

export interface Planned { name: string; seconds: number }

/** Seconds as "1 min 20 s" / "40 s". */
export function duration(s: number): string {
  const r = Math.max(0, Math.round(s));
  return r >= 60 ? `${Math.floor(r / 60)} min ${String(r % 60).padStart(2, '0')} s` : `${r} s`;
}

/**
 * Progress is counted in expected seconds: each scenario's share is its expected time (from the last
 * run in the same mode, else its own guess); the estimate of the time left scales what remains by
 * how fast the run has gone against those expectations so far.
 */
export class Progress {
  private readonly multi?: cliProgress.MultiBar;
  private readonly bar?: cliProgress.SingleBar;
  private readonly total: number;
  private base = 0;
  private current?: Planned;
  private fraction = 0;
  private readonly t0 = performance.now();

  constructor(private readonly plan: readonly Planned[], private readonly out: NodeJS.WriteStream = process.stderr) {
    this.total = Math.max(1, plan.reduce((a, p) => a + p.seconds, 0));
    if (out.isTTY) {
      this.multi = new cliProgress.MultiBar({
        stream: out, hideCursor: true, clearOnComplete: true, barsize: 30,
        format: ' {bar} {percentage}% | {scenario} | {left}',
      }, cliProgress.Presets.shades_classic);
      this.bar = this.multi.create(this.total, 0, { scenario: '', left: `about ${duration(this.total)} left` });
    }
  }

  /** The estimate of the time left, s. */
  left(): number {
    const done = this.base + this.fraction * (this.current?.seconds ?? 0);
    const elapsed = (performance.now() - this.t0) / 1000;
    const pace = done > 0 && elapsed > 5 ? elapsed / done : 1;
    return (this.total - done) * pace;
  }

  start(name: string): void {
    this.current = this.plan.find((p) => p.name === name) ?? { name, seconds: 0 };
    this.fraction = 0;
    const i = this.plan.findIndex((p) => p.name === name);
    this.line(`scenario ${name} (${i + 1}/${this.plan.length}), about ${duration(this.left())} left in all`);
    this.update();
  }

  step(done: number, total: number): void {
    if (total > 0 && Number.isFinite(done)) this.fraction = Math.min(1, Math.max(0, done / total));
    this.update();
  }

  finish(): void {
    this.base += this.current?.seconds ?? 0;
    this.current = undefined;
    this.fraction = 0;
    this.update();
  }

  line(text: string): void {
    if (this.multi) this.multi.log(`${text}\n`);
    else this.out.write(`${text}\n`);
  }

  stop(): void { this.multi?.stop(); }

  private update(): void {
    if (!this.bar) return;
    const value = Math.min(this.total, this.base + this.fraction * (this.current?.seconds ?? 0));
    this.bar.update(value, { scenario: this.current?.name ?? 'done', left: `about ${duration(this.left())} left` });
  }
}
