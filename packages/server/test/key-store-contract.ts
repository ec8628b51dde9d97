import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { ApiKeyRecord, KeyStore } from '../src/keys/key-store.js';

/**
 * The KeyStore contract (see src/keys/key-store.ts), run by every backend's test file.
 * `open` gives an initialized key store on the suite's database and a way to close it.
 */
export function keyStoreContract(
  name: string,
  open: () => Promise<{ keys: KeyStore; close: () => Promise<void> }>,
  cleanup?: () => Promise<void>,
): void {
  describe(`KeyStore contract: ${name}`, () => {
    const closers: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const c of closers.splice(0)) await c();
      await cleanup?.();
    });
    async function store(): Promise<KeyStore> {
      const { keys, close } = await open();
      closers.push(close);
      return keys;
    }
    const record = (over: Partial<ApiKeyRecord> = {}): ApiKeyRecord & { hash: string } => ({
      id: randomUUID().slice(0, 12),
      name: 'ci',
      publish: ['alerts', 'jobs:*'],
      admin: false,
      createdAt: Date.now(),
      revokedAt: null,
      hash: 'a'.repeat(64),
      ...over,
    });

    it('finds a created key with its hash, and fails on a duplicate id', async () => {
      const keys = await store();
      const r = record({ admin: true });
      await keys.create(r);
      expect(await keys.find(r.id)).toEqual(r);
      await expect(keys.create(r)).rejects.toThrow();
      expect(await keys.find('no-such-id')).toBeUndefined();
    });

    it('lists keys without their hashes, oldest first', async () => {
      const keys = await store();
      const older = record({ createdAt: 1_000 });
      const newer = record({ createdAt: 2_000 });
      await keys.create(newer);
      await keys.create(older);
      const listed = (await keys.list()).filter((k) => k.id === older.id || k.id === newer.id);
      expect(listed.map((k) => k.id)).toEqual([older.id, newer.id]);
      for (const k of listed) expect(k).not.toHaveProperty('hash');
    });

    it('revokes idempotently (the first time stays), finds revoked keys, false for unknown ids', async () => {
      const keys = await store();
      const r = record();
      await keys.create(r);
      expect(await keys.revoke(r.id, 5_000)).toBe(true);
      expect(await keys.revoke(r.id, 9_000)).toBe(true);
      expect((await keys.find(r.id))?.revokedAt).toBe(5_000);
      expect(await keys.revoke('no-such-id', 5_000)).toBe(false);
    });

    it('is shared by every node on the same database', async () => {
      const a = await store();
      const b = await store();
      const r = record();
      await a.create(r);
      expect((await b.find(r.id))?.name).toBe('ci');
    });
  });
}
