import { afterEach, describe, expect, it, vi } from 'vitest';
import { TokenService } from '../src/auth/tokens.js';
import { HeraldError } from '../src/errors.js';

const SECRET = 'token-cache-secret-long-enough-0123456789';
const OTHER = 'token-cache-other-secret-long-enough-98765';

const service = (tokenCacheSize?: number) =>
  new TokenService({
    secret: SECRET,
    issuer: '',
    audience: '',
    apiKeys: [],
    ...(tokenCacheSize === undefined ? {} : { tokenCacheSize }),
  });

/** The error code `authenticate` fails with, or 'ok'. */
async function outcome(tokens: TokenService, token: string): Promise<string> {
  try {
    await tokens.authenticate(token);
    return 'ok';
  } catch (err) {
    return err instanceof HeraldError ? err.code : String(err);
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe('verified token cache', () => {
  it('answers a token seen before from the cache with the same principal', async () => {
    const tokens = service();
    const token = await tokens.mint({ sub: 'u1', channels: ['news'], ttlSec: 60 });
    const first = await tokens.authenticate(token);
    expect(tokens.cachedTokenCount).toBe(1);
    const again = await tokens.authenticate(token);
    expect(again).toBe(first);
    expect(again.userId).toBe('u1');
    expect(again.subscribe).toEqual(['news']);
    expect(tokens.cachedTokenCount).toBe(1);
  });

  it('still expires a cached token at its exp', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = new Date('2026-01-01T00:00:00Z');
    vi.setSystemTime(start);
    const tokens = service();
    const token = await tokens.mint({ sub: 'u1', ttlSec: 60 });
    expect(await outcome(tokens, token)).toBe('ok');
    expect(tokens.cachedTokenCount).toBe(1);
    vi.setSystemTime(start.getTime() + 59_999);
    expect(await outcome(tokens, token)).toBe('ok');
    vi.setSystemTime(start.getTime() + 60_000);
    expect(await outcome(tokens, token)).toBe('HERALD_ERR_TOKEN_EXPIRED');
    // The expired entry is gone, and verifying afresh gives the same answer.
    expect(tokens.cachedTokenCount).toBe(0);
    expect(await outcome(tokens, token)).toBe('HERALD_ERR_TOKEN_EXPIRED');
  });

  it('serves nothing from the cache after the secret is rotated', async () => {
    const tokens = service();
    const old = await tokens.mint({ sub: 'u1', ttlSec: 60 });
    expect(await outcome(tokens, old)).toBe('ok');
    expect(tokens.cachedTokenCount).toBe(1);
    tokens.rotateSecret(OTHER);
    expect(tokens.cachedTokenCount).toBe(0);
    expect(await outcome(tokens, old)).toBe('HERALD_ERR_TOKEN_INVALID');
    const fresh = await tokens.mint({ sub: 'u1', ttlSec: 60 });
    expect(await outcome(tokens, fresh)).toBe('ok');
  });

  it('keeps at most tokenCacheSize tokens, dropping the least recently used', async () => {
    const tokens = service(3);
    const t = await Promise.all(
      [0, 1, 2, 3, 4].map((i) => tokens.mint({ sub: `u${i}`, ttlSec: 60 })),
    );
    for (const token of t.slice(0, 3)) await tokens.authenticate(token);
    const kept = await tokens.authenticate(t[0] ?? ''); // t0 is now the most recent
    await tokens.authenticate(t[3] ?? ''); // drops t1
    await tokens.authenticate(t[4] ?? ''); // drops t2
    expect(tokens.cachedTokenCount).toBe(3);
    expect(await tokens.authenticate(t[0] ?? '')).toBe(kept);
    // t1 was dropped: verified again, a new principal object.
    const t1 = await tokens.authenticate(t[1] ?? '');
    expect(t1.userId).toBe('u1');
    expect(tokens.cachedTokenCount).toBe(3);
  });

  it('caches nothing with tokenCacheSize 0, and never a failed token', async () => {
    const none = service(0);
    const token = await none.mint({ sub: 'u1', ttlSec: 60 });
    expect(await outcome(none, token)).toBe('ok');
    expect(none.cachedTokenCount).toBe(0);
    const tokens = service();
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(43)}`;
    expect(await outcome(tokens, forged)).toBe('HERALD_ERR_TOKEN_INVALID');
    expect(tokens.cachedTokenCount).toBe(0);
  });
});
