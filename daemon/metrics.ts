// chaosd's metrics in Prometheus's text format: pool levels, per-phase latency histograms, failures by reason.

/** Upper bounds (seconds) of the latency buckets: lab creates take tens of ms to seconds. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type Labels = Record<string, string>;

const labelText = (l: Labels) => {
  const keys = Object.keys(l).sort();
  return keys.length ? `{${keys.map((k) => `${k}="${l[k].replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}` : '';
};

class Histogram {
  counts = new Array<number>(BUCKETS.length).fill(0);
  sum = 0;
  n = 0;
  observe(sec: number): void {
    for (let i = 0; i < BUCKETS.length; i++) if (sec <= BUCKETS[i]) this.counts[i]++;
    this.sum += sec;
    this.n++;
  }
}

export class Metrics {
  private readonly phases = new Map<string, Histogram>();
  private readonly failures = new Map<string, number>();
  private readonly counters = new Map<string, number>();

  /** One phase's duration: prepare (a shell), finish (from a shell), create (request to reply), destroy, ... */
  observe(phase: string, ms: number): void {
    let h = this.phases.get(phase);
    if (!h) this.phases.set(phase, (h = new Histogram()));
    h.observe(ms / 1000);
  }

  /** A failed operation, by what was being done and the error's code. */
  fail(op: string, reason: string): void {
    const k = labelText({ op, reason });
    this.failures.set(k, (this.failures.get(k) ?? 0) + 1);
  }

  /** Something chaosd did, by kind: shell_taken, built_from_scratch, adopted, ... (the label is written at render). */
  count(kind: string): void {
    this.counters.set(kind, (this.counters.get(kind) ?? 0) + 1);
  }

  /** The exposition text; `gauges` are read at scrape time (pool levels, memory). */
  render(gauges: { name: string; help: string; samples: { labels: Labels; value: number }[] }[]): string {
    const out: string[] = [];
    for (const g of gauges) {
      out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
      for (const s of g.samples) out.push(`${g.name}${labelText(s.labels)} ${s.value}`);
    }
    out.push('# HELP chaosd_phase_seconds Time taken by each phase of chaosd\'s work.', '# TYPE chaosd_phase_seconds histogram');
    for (const [phase, h] of [...this.phases].sort(([a], [b]) => a.localeCompare(b))) {
      BUCKETS.forEach((b, i) => out.push(`chaosd_phase_seconds_bucket${labelText({ phase, le: String(b) })} ${h.counts[i]}`));
      out.push(`chaosd_phase_seconds_bucket${labelText({ phase, le: '+Inf' })} ${h.n}`);
      out.push(`chaosd_phase_seconds_sum${labelText({ phase })} ${h.sum}`, `chaosd_phase_seconds_count${labelText({ phase })} ${h.n}`);
    }
    out.push('# HELP chaosd_failures_total Failed operations, by operation and error code.', '# TYPE chaosd_failures_total counter');
    for (const [k, v] of this.failures) out.push(`chaosd_failures_total${k} ${v}`);
    out.push('# HELP chaosd_events_total Things chaosd did, by kind.', '# TYPE chaosd_events_total counter');
    for (const [kind, v] of this.counters) out.push(`chaosd_events_total${labelText({ kind })} ${v}`);
    return out.join('\n') + '\n';
  }
}
