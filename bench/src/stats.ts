/** Latency percentiles in milliseconds. */
export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Collects samples (milliseconds) and summarises them; every sample is kept, so percentiles are exact. */
export class Latencies {
  private readonly values: number[] = [];

  get count(): number {
    return this.values.length;
  }

  record(ms: number): void {
    this.values.push(ms);
  }

  /** Runs `work`, records how long it took (also when it throws), and returns its result. */
  async time<T>(work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.record(performance.now() - started);
    }
  }

  summary(): Percentiles {
    const sorted = Float64Array.from(this.values).sort();
    const sum = sorted.reduce((total, value) => total + value, 0);
    return {
      count: sorted.length,
      p50: round(percentile(sorted, 0.5)),
      p95: round(percentile(sorted, 0.95)),
      p99: round(percentile(sorted, 0.99)),
      max: round(sorted.at(-1) ?? 0),
      mean: round(sorted.length === 0 ? 0 : sum / sorted.length),
    };
  }
}

/** Nearest-rank percentile of ascending values; 0 when there are none. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Events (or calls) per second, rounded to a whole number. */
export function ratePerSecond(count: number, ms: number): number {
  return ms <= 0 ? 0 : Math.round((count * 1000) / ms);
}
