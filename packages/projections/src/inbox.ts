/** An unbounded FIFO between a producer (the consume iterator) and one consumer that takes in batches. */
export class Inbox<T> {
  private items: T[] = [];
  private closed = false;
  private wake: (() => void) | undefined;

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    this.wake?.();
  }

  /** No more items will come; take() hands out what is left, then undefined. */
  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** Up to `max` items, as soon as there is at least one; undefined once closed and empty. */
  async take(max: number): Promise<T[] | undefined> {
    while (this.items.length === 0) {
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    return this.items.splice(0, max);
  }
}
