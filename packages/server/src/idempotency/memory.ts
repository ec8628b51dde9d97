import type {
  ClaimRef,
  ClaimRequest,
  IdempotencyRecord,
  IdempotencyStore,
  StoredResponse,
} from './idempotency.js';

/** Records in process memory: for stores without a database of their own (tests, custom). */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<
    string,
    { record: IdempotencyRecord; owner: string; expiresAt: number; plan: string }
  >();

  async init(): Promise<void> {}

  async claim(c: ClaimRequest) {
    const id = `${c.scope}\n${c.key}`;
    const found = this.records.get(id);
    if (found && found.expiresAt > c.now) return { claimed: false as const, record: found.record };
    // A lapsed claim of the same request: its holder died, and the retry keeps its plan.
    const plan =
      found?.record.state === 'pending' && found.record.fingerprint === c.fingerprint
        ? found.plan
        : c.plan;
    this.records.set(id, {
      record: { state: 'pending', fingerprint: c.fingerprint },
      owner: c.owner,
      expiresAt: c.leaseUntil,
      plan,
    });
    return { claimed: true as const, plan };
  }

  async complete(c: ClaimRef, response: StoredResponse, expiresAt: number): Promise<void> {
    const found = this.records.get(`${c.scope}\n${c.key}`);
    if (!found || found.owner !== c.owner) return;
    found.record = { state: 'done', fingerprint: found.record.fingerprint, ...response };
    found.expiresAt = expiresAt;
  }

  async release(c: ClaimRef): Promise<void> {
    const id = `${c.scope}\n${c.key}`;
    if (this.records.get(id)?.owner === c.owner) this.records.delete(id);
  }

  async extend(c: ClaimRef, leaseUntil: number): Promise<void> {
    const found = this.records.get(`${c.scope}\n${c.key}`);
    if (found?.owner === c.owner && found.record.state === 'pending') found.expiresAt = leaseUntil;
  }

  async sweep(now: number): Promise<number> {
    let n = 0;
    for (const [id, r] of this.records) {
      if (r.expiresAt <= now) {
        this.records.delete(id);
        n++;
      }
    }
    return n;
  }
}
