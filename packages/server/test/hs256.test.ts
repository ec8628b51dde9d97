import { createHmac, createSecretKey } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT, errors as joseErrors, exportSPKI, generateKeyPair, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { type Hs256Claims, verifyHs256 } from '../src/auth/hs256.js';
import { TokenService } from '../src/auth/tokens.js';
import { HeraldError } from '../src/errors.js';

const SECRET = 'test-secret-that-is-long-enough-0123456789';
const secretBytes = new TextEncoder().encode(SECRET);
const secretKey = createSecretKey(Buffer.from(SECRET));
const now = () => Math.floor(Date.now() / 1000);

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64url');
/** A token of exactly these encoded parts, signed with `secret`. */
const signedParts = (header: string, claims: string, secret = SECRET) => {
  const input = `${header}.${claims}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
};
/** A token with exactly this header and claims text, signed with `secret`. */
const signed = (header: string | Buffer, claims: string | Buffer, secret = SECRET) =>
  signedParts(b64(header), b64(claims), secret);

type Verdict = 'ok' | 'HERALD_ERR_TOKEN_EXPIRED' | 'HERALD_ERR_TOKEN_INVALID';

const CONFIGS: Hs256Claims[] = [
  { issuer: 'herald-test', audience: 'herald' },
  { issuer: '', audience: '' },
];

/** jose's answer alone, with the options TokenService gives it. */
async function joseVerdict(token: string, c: Hs256Claims): Promise<Verdict> {
  try {
    await jwtVerify(token, secretBytes, {
      algorithms: ['HS256'],
      ...(c.issuer ? { issuer: c.issuer } : {}),
      ...(c.audience ? { audience: c.audience } : {}),
    });
    return 'ok';
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) return 'HERALD_ERR_TOKEN_EXPIRED';
    return 'HERALD_ERR_TOKEN_INVALID';
  }
}

async function heraldVerdict(tokens: TokenService, token: string): Promise<Verdict> {
  try {
    await tokens.authenticate(token);
    return 'ok';
  } catch (err) {
    if (!(err instanceof HeraldError)) throw err;
    expect(['HERALD_ERR_TOKEN_EXPIRED', 'HERALD_ERR_TOKEN_INVALID']).toContain(err.code);
    return err.code as Verdict;
  }
}

/** True when the synchronous path answered (accepted or refused) instead of passing it on. */
function decided(token: string, c: Hs256Claims): boolean {
  try {
    return verifyHs256(token, secretKey, c) !== undefined;
  } catch {
    return true;
  }
}

const services = CONFIGS.map((c) => new TokenService({ secret: SECRET, apiKeys: [], ...c }));

/** Asserts Herald answers `token` exactly as jose does, under every configuration. */
async function sameAsJose(token: string): Promise<Verdict[]> {
  const verdicts: Verdict[] = [];
  for (const [i, c] of CONFIGS.entries()) {
    const expected = await joseVerdict(token, c);
    expect(await heraldVerdict(services[i]!, token), `${token} with ${JSON.stringify(c)}`).toBe(
      expected,
    );
    verdicts.push(expected);
  }
  return verdicts;
}

describe('HS256 verification without WebCrypto', () => {
  const good = { iss: 'herald-test', aud: 'herald', sub: 'alice' };

  it('accepts a plain token itself and returns its claims', async () => {
    const token = await new SignJWT({ ...good, channels: ['a'] })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(secretBytes);
    expect(verifyHs256(token, secretKey, CONFIGS[0]!)).toMatchObject({ sub: 'alice' });
    expect(await sameAsJose(token)).toEqual(['ok', 'ok']);
  });

  const plain = (claims: unknown) => signed('{"alg":"HS256"}', JSON.stringify(claims));
  it.each([
    ['wrong secret', signed('{"alg":"HS256"}', JSON.stringify(good), `${SECRET}x`), 'invalid'],
    ['truncated signature', plain(good).slice(0, -4), 'invalid'],
    ['expired', plain({ ...good, exp: now() - 10 }), 'expired'],
    ['expiring this second', plain({ ...good, exp: now() }), 'expired'],
    ['not yet valid', plain({ ...good, nbf: now() + 60 }), 'invalid'],
    ['exp as text', plain({ ...good, exp: 'never' }), 'invalid'],
    ['iat as text', plain({ ...good, iat: 'now' }), 'invalid'],
    ['wrong issuer', plain({ ...good, iss: 'evil' }), 'invalid'],
    ['no audience', plain({ iss: 'herald-test' }), 'invalid'],
    ['audience not listed', plain({ ...good, aud: ['other', 'herald2'] }), 'invalid'],
    ['claims an array', signed('{"alg":"HS256"}', '[1]'), 'invalid'],
    ['claims null', signed('{"alg":"HS256"}', 'null'), 'invalid'],
    ['claims not JSON', signed('{"alg":"HS256"}', '{"sub":'), 'invalid'],
    ['claims not UTF-8', signed('{"alg":"HS256"}', Buffer.from([0x7b, 0xff, 0x7d])), 'invalid'],
  ])('refuses a plain token itself: %s', async (_name, token, kind) => {
    expect(decided(token, CONFIGS[0]!)).toBe(true);
    const verdicts = await sameAsJose(token);
    expect(verdicts[0]).toBe(
      kind === 'expired' ? 'HERALD_ERR_TOKEN_EXPIRED' : 'HERALD_ERR_TOKEN_INVALID',
    );
  });

  it.each([
    ['alg none', `${b64('{"alg":"none"}')}.${b64(JSON.stringify(good))}.`],
    ['alg HS384', signed('{"alg":"HS384"}', JSON.stringify(good))],
    ['alg in lower case', signed('{"alg":"hs256"}', JSON.stringify(good))],
    ['crit b64 false', signed('{"alg":"HS256","crit":["b64"],"b64":false}', JSON.stringify(good))],
    ['crit b64 true', signed('{"alg":"HS256","crit":["b64"],"b64":true}', JSON.stringify(good))],
    ['crit unknown', signed('{"alg":"HS256","crit":["exp"],"exp":1}', JSON.stringify(good))],
    ['header an array', signed('["HS256"]', JSON.stringify(good))],
    ['padded signature', `${signed('{"alg":"HS256"}', JSON.stringify(good))}=`],
    [
      // Buffer would decode the claims without the stray last character; jose refuses them.
      'claims of length 4n+1, signed',
      signedParts(b64('{"alg":"HS256"}'), `${b64(JSON.stringify({ ...good, sub: 'ali' }))}A`),
    ],
    [
      // "~~~" encodes to "fn5-": these parts are signed in the base64 alphabet instead.
      'header in the base64 alphabet',
      signedParts(b64('{"alg":"HS256","kid":"~~~"}').replace('-', '+'), b64(JSON.stringify(good))),
    ],
    [
      'claims in the base64 alphabet',
      signedParts(
        b64('{"alg":"HS256"}'),
        b64(JSON.stringify({ ...good, sub: '~~~' })).replace('-', '+'),
      ),
    ],
    ['two parts', `${b64('{"alg":"HS256"}')}.${b64(JSON.stringify(good))}`],
    ['four parts', `${signed('{"alg":"HS256"}', JSON.stringify(good))}.x`],
  ])('leaves an unusual token to jose and answers as it does: %s', async (_name, token) => {
    expect(decided(token, CONFIGS[0]!)).toBe(false);
    await sameAsJose(token);
  });

  it('refuses HS256 when only RS256 is allowed, whatever the signature', async () => {
    const { publicKey } = await generateKeyPair('RS256');
    const tokens = new TokenService({
      secret: SECRET,
      apiKeys: [],
      issuer: '',
      audience: '',
      algorithms: ['RS256'],
      publicKeyPem: await exportSPKI(publicKey),
    });
    const token = signed('{"alg":"HS256"}', JSON.stringify(good));
    expect(await heraldVerdict(tokens, token)).toBe('HERALD_ERR_TOKEN_INVALID');
  });

  it('answers as jose does for generated claims and headers', async () => {
    const t = now();
    const maybe = <T>(values: T[]) => fc.option(fc.constantFrom(...values), { nil: undefined });
    const claims = fc.record({
      iss: maybe<unknown>(['herald-test', 'evil', 5, ['herald-test'], null]),
      aud: maybe<unknown>(['herald', 'other', ['x', 'herald'], ['x'], [], 7, null]),
      sub: maybe<unknown>(['alice', '', 1]),
      exp: maybe<unknown>([t + 600, t - 10, t - 100_000, 'soon', null, 1.5e9, 9.9e12]),
      nbf: maybe<unknown>([t - 10, t + 3600, '0', null]),
      iat: maybe<unknown>([t, t + 3600, 'now', true]),
    });
    const header = fc.constantFrom(
      '{"alg":"HS256"}',
      '{"alg":"HS256","typ":"JWT"}',
      '{"typ":"JWT","alg":"HS256","kid":"k1"}',
      '{"alg":"HS256","b64":false}',
      '\ufeff{"alg":"HS256"}',
      '{"alg":"HS256","crit":["b64"],"b64":true}',
      '{"alg":"RS256"}',
    );
    const secret = fc.constantFrom(SECRET, SECRET, `${SECRET}!`);
    await fc.assert(
      fc.asyncProperty(claims, header, secret, async (c, h, s) => {
        const body = Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined));
        await sameAsJose(signed(h, JSON.stringify(body), s));
      }),
      { numRuns: 300 },
    );
  });
});
