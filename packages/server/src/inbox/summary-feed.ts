/**
 * Publishes `summary` events after changes, coalesced: one flush at a time per node,
 * covering every owner marked before it started. Flushes run in order, so the last summary
 * this node publishes for an owner reflects every change this node made before it; many
 * changes at once (a broadcast to 10,000 users, a burst of reads) cost one batch of
 * queries, not one per change.
 */
export class SummaryFeed {
  private readonly pending = new Set<string>();
  private next: Promise<void> | undefined;
  private current: Promise<void> = Promise.resolve();

  constructor(private readonly flush: (owners: string[]) => Promise<void>) {}

  /** Resolves once a summary of each owner, computed after this call, is published. */
  refresh(owners: Iterable<string>): Promise<void> {
    for (const o of owners) this.pending.add(o);
    if (this.pending.size === 0) return Promise.resolve();
    if (!this.next) {
      const run = this.current
        .catch(() => undefined)
        .then(async () => {
          // From here on, new owners wait for the next run.
          this.next = undefined;
          const batch = [...this.pending];
          this.pending.clear();
          if (batch.length > 0) await this.flush(batch);
        });
      this.next = run;
      this.current = run;
    }
    return this.next;
  }

  /** Resolves when no flush is running or queued. */
  async idle(): Promise<void> {
    while (this.next) await this.next.catch(() => undefined);
    await this.current.catch(() => undefined);
  }
}
