/**
 * Idempotency keys on publish (`Idempotency-Key` header): a publisher that retries after a
 * timeout or a dropped connection gets the first answer again instead of a second event.
 *
 * How it holds under concurrency and across nodes: the first request for a key claims it by
 * inserting a `pending` record under the database's unique constraint on (scope, key), and
 * only the request whose insert won goes on to publish; it then stores its 202 answer in
 * the record (`done`). Any other request with the same key and scope waits for the record
 * to be done (up to `waitMs`) and replays it, or gets 409 `HERALD_ERR_IDEMPOTENCY_IN_PROGRESS`.
 * A failed publish deletes its claim, so the client's retry can try again.
 *
 * A pending claim has a short lease (`idempotencyLeaseMs`, 3 s) that its holder renews every
 * third of it while the publish runs, so a claim whose holder died (process crash, a node
 * killed) is free once the lease has run out since its last renewal, not after a long fixed
 * lease; a retry waiting for it (up to `waitMs`) takes it over then. The holder may have
 * died after its events were committed and before its answer was recorded, so the claim
 * carries a plan (`hub/publish-plan.ts`: the events' time and ids, fixed before the publish
 * runs) that a takeover keeps: the retry publishes the same events again, the store finds
 * the ones already stored and gives back their sequences (`Store.append` with `resume`),
 * and the retry answers what the holder would have answered, with nothing stored twice.
 * Not covered: a holder that is still running when its claim is taken over (its store did
 * not answer its renewals for a whole lease) may store its events beside the retry's. Done
 * records are kept for `ttlMs`.
 */

export type IdempotencyRecord =
  | { readonly state: 'pending'; readonly fingerprint: string }
  | {
      readonly state: 'done';
      readonly fingerprint: string;
      readonly status: number;
      readonly body: string;
    };

/** The answer a done record replays. */
export interface StoredResponse {
  readonly status: number;
  readonly body: string;
}

/** One claim of a key: whose it is, the key, and the request holding it. */
export interface ClaimRef {
  /** Whose key it is: keys of different principals never meet. */
  readonly scope: string;
  readonly key: string;
  /** Random id of the claiming request; only it may complete or release the claim. */
  readonly owner: string;
}

export interface ClaimRequest extends ClaimRef {
  /** Hash of the request (method, path, body): the same key with another request is an error. */
  readonly fingerprint: string;
  readonly now: number;
  /** The claim may be taken over after this time (ms since the epoch). */
  readonly leaseUntil: number;
  /** The plan of this request's publish (`formatPlan`), kept with the claim. */
  readonly plan: string;
}

/** A claim won: the plan to publish with, this request's own or the one a takeover kept. */
export interface ClaimWon {
  readonly claimed: true;
  readonly plan: string;
}

/**
 * Where idempotency records live: in the event store's own database, so they survive a
 * restart and every node of a cluster sees the same records.
 *
 * Contract (every backend runs the contract suite in `test/idempotency.test.ts`):
 * - `claim` is atomic: of any number of concurrent claims of one (scope, key), from any
 *   node, exactly one returns `claimed: true`, and the others return the record. A record
 *   whose expiry has passed (a done record past its TTL, a pending one past its lease)
 *   counts as absent and is replaced by the claim.
 * - Plans: a claim returns the plan it holds. A new claim holds its request's plan; one that
 *   takes over a lapsed pending claim of the same fingerprint keeps that claim's plan, so the
 *   retry publishes what the dead holder was publishing (any other replaced record: the new
 *   request's plan).
 * - `complete`, `release` and `extend` act only while `owner` still holds the claim (and
 *   `extend` only while it is pending).
 * - `sweep` deletes expired records; returns how many.
 */
export interface IdempotencyStore {
  init(): Promise<void>;
  claim(c: ClaimRequest): Promise<ClaimWon | { claimed: false; record: IdempotencyRecord }>;
  complete(c: ClaimRef, response: StoredResponse, expiresAt: number): Promise<void>;
  release(c: ClaimRef): Promise<void>;
  /** Moves a pending claim's lease to `leaseUntil`, while `c.owner` still holds it. */
  extend(c: ClaimRef, leaseUntil: number): Promise<void>;
  sweep(now: number): Promise<number>;
}

export interface IdempotencySettings {
  /** How long a done record is replayed, ms. */
  readonly ttlMs: number;
  /** How long a duplicate waits for a pending first request before 409, ms. */
  readonly waitMs: number;
  /**
   * How long a pending claim holds without renewal, ms: how long after its node died a key
   * stays blocked. The holder renews it every third of it.
   */
  readonly leaseMs: number;
}

/** A stored idempotency row as both SQL backends read it. */
export interface RecordRow {
  fingerprint: string;
  state: string;
  status: number | null;
  body: string | null;
}

/** The record a row stands for. */
export function toRecord(row: RecordRow): IdempotencyRecord {
  return row.state === 'done'
    ? {
        state: 'done',
        fingerprint: row.fingerprint,
        status: row.status ?? 202,
        body: row.body ?? '',
      }
    : { state: 'pending', fingerprint: row.fingerprint };
}
