interface Queued<In, Out> {
  readonly input: In;
  readonly resolve: (out: Out) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Group commit for requests: every `add` of one turn of the event loop is handed to `run`
 * together at the end of the turn, so 64 concurrent requests cost one transaction, not 64;
 * each caller is answered with its own result once the group is done (after its commit).
 * When a group fails, each of its inputs is run again alone, so one bad request fails
 * nobody else. A group that is running does not hold up the next: they overlap, and the
 * backend orders their writes.
 */
export class GroupCommit<In, Out> {
  private queue: Queued<In, Out>[] = [];

  /** `run` answers one result per input, in input order. */
  constructor(private readonly run: (inputs: readonly In[]) => Promise<Out[]>) {}

  add(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      if (this.queue.push({ input, resolve, reject }) === 1) setImmediate(this.flush);
    });
  }

  private readonly flush = (): void => {
    const group = this.queue;
    this.queue = [];
    void this.runGroup(group);
  };

  private async runGroup(group: readonly Queued<In, Out>[]): Promise<void> {
    try {
      const out = await this.run(group.map((q) => q.input));
      group.forEach((q, i) => q.resolve(out[i]!));
    } catch (err) {
      if (group.length === 1) return group[0]!.reject(err);
      await Promise.all(group.map((q) => this.runGroup([q])));
    }
  }
}
