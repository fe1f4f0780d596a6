interface Waiter {
  readonly seq: number;
  settle(reached: boolean): void;
}

/** Callers waiting for a position to reach a sequence, settled by whoever moves the position. */
export class Waiters {
  private readonly pending = new Set<Waiter>();

  get size(): number {
    return this.pending.size;
  }

  /** True once `advance` reaches `seq`, false after `timeoutMs` or on `cancel`. */
  wait(seq: number, position: number, timeoutMs: number): Promise<boolean> {
    if (position >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        seq,
        settle: (reached) => {
          clearTimeout(timer);
          this.pending.delete(waiter);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => waiter.settle(false), timeoutMs);
      this.pending.add(waiter);
    });
  }

  advance(position: number): void {
    for (const waiter of [...this.pending]) if (waiter.seq <= position) waiter.settle(true);
  }

  cancel(): void {
    for (const waiter of [...this.pending]) waiter.settle(false);
  }
}
