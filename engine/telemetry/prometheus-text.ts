/** A counter, gauge or histogram in Prometheus text exposition. Small on purpose: no labels beyond a few. */
export class Counter {
  private v = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(n = 1, label = ""): void {
    this.v.set(label, (this.v.get(label) ?? 0) + n);
  }
  render(): string {
    const rows = [...this.v].map(([l, n]) => `${this.name}${l} ${n}`);
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n${rows.join("\n") || `${this.name} 0`}\n`;
  }
}

export class Gauge {
  private v = 0;
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(n: number): void {
    this.v = n;
  }
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.name} ${this.v}\n`;
  }
}

export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private n = 0;
  /** Recent observations, for quantiles in status and benchmarks. */
  readonly recent: number[] = [];
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {
    this.counts = buckets.map(() => 0);
  }
  observe(x: number): void {
    this.buckets.forEach((b, i) => {
      if (x <= b) this.counts[i]!++;
    });
    this.sum += x;
    this.n++;
    this.recent.push(x);
    if (this.recent.length > 1000) this.recent.shift();
  }
  render(): string {
    const rows = this.buckets.map((b, i) => `${this.name}_bucket{le="${b}"} ${this.counts[i]}`);
    rows.push(
      `${this.name}_bucket{le="+Inf"} ${this.n}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.n}`,
    );
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n${rows.join("\n")}\n`;
  }
}

/** One unlabelled series in Prometheus text exposition. */
export function series(type: "counter" | "gauge", name: string, help: string, value: number): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`;
}
