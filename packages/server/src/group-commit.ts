interface Queued<In, Out> {
  readonly input: In;
  readonly resolve: (out: Out) => void;
  readonly reject: (err: unknown) => void;
}

export interface GroupCommitOptions {
  /**
   * How long (ms) the first input of a group waits for others before the group runs, when
   * inputs come often: only if the previous group started less than this long before it.
   * Otherwise, and with 0 (the default), it waits until the end of the turn of the event loop.
   */
  readonly windowMs?: number;
  /** A group that reaches this many inputs runs at once, without waiting out the window. */
  readonly maxInputs?: number;
}

/**
 * Group commit for requests: every `add` of one turn of the event loop (or of one window,
 * `windowMs`, while inputs come often) is handed to `run` together, so 64 concurrent
 * requests cost one transaction, not 64; each caller is answered with its own result once
 * the group is done (after its commit). An input that comes alone is not held up: a window
 * only opens when the previous group started less than a window before, so a trickle of
 * requests pays no wait and a steady stream shares its commits. When a group fails, each of its inputs is run again alone, so one bad request
 * fails nobody else. A group that is running does not hold up the next: they overlap, and
 * the backend orders their writes.
 */
export class GroupCommit<In, Out> {
  private queue: Queued<In, Out>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** When the last group started (performance.now()), for the window's decision. */
  private lastFlushAt = -Infinity;
  private readonly windowMs: number;
  private readonly maxInputs: number;

  /** `run` answers one result per input, in input order. */
  constructor(
    private readonly run: (inputs: readonly In[]) => Promise<Out[]>,
    options: GroupCommitOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 0;
    this.maxInputs = options.maxInputs ?? Infinity;
  }

  add(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      const n = this.queue.push({ input, resolve, reject });
      if (n >= this.maxInputs) this.flush();
      else if (n === 1) {
        if (this.windowMs > 0 && performance.now() - this.lastFlushAt < this.windowMs) {
          this.timer = setTimeout(this.flush, this.windowMs);
        } else this.immediate = setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    const group = this.queue;
    if (group.length === 0) return;
    this.lastFlushAt = performance.now();
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
