/**
 * Stored publisher API keys. Only a SHA-256 hash of each key is kept: a leaked database
 * does not leak working keys. A key reads `hk_<id>_<secret>`; the id finds the record, the
 * hash of the whole key must match it (compared in constant time by the caller).
 *
 * Contract (every backend runs `test/key-store-contract.ts`): `create` fails on a duplicate id; `find` returns revoked keys too (the caller
 * refuses them); `revoke` is idempotent and returns false for an unknown id.
 */
export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  /** Channels the key may publish to (grants; see grants.ts). */
  readonly publish: readonly string[];
  /** May use the admin API. */
  readonly admin: boolean;
  readonly createdAt: number;
  readonly revokedAt: number | null;
}

export interface KeyStore {
  init(): Promise<void>;
  create(record: ApiKeyRecord & { hash: string }): Promise<void>;
  find(id: string): Promise<(ApiKeyRecord & { hash: string }) | undefined>;
  list(): Promise<ApiKeyRecord[]>;
  revoke(id: string, now: number): Promise<boolean>;
}

/** A stored key row as both SQL backends read it. */
export interface KeyRow {
  id: string;
  name: string;
  hash: string;
  publish: string;
  admin: number | boolean;
  created_at: number | string;
  revoked_at: number | string | null;
}

export function fromRow(r: KeyRow): ApiKeyRecord & { hash: string } {
  return {
    id: r.id,
    name: r.name,
    hash: r.hash,
    publish: JSON.parse(r.publish) as string[],
    admin: r.admin === true || r.admin === 1,
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

export function publicPart(r: ApiKeyRecord & { hash: string }): ApiKeyRecord {
  return {
    id: r.id,
    name: r.name,
    publish: r.publish,
    admin: r.admin,
    createdAt: r.createdAt,
    revokedAt: r.revokedAt,
  };
}

export const COLUMNS = 'id, name, hash, publish, admin, created_at, revoked_at';
