import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { HeraldError } from '../errors.js';
import type { Principal } from './principal.js';

/** Tokens longer than this are refused before any parsing (they are never legitimate). */
export const MAX_TOKEN_BYTES = 8192;

export interface TokenServiceOptions {
  readonly secret: string;
  readonly issuer: string;
  readonly audience: string;
  readonly apiKeys: readonly string[];
}

export interface MintOptions {
  readonly sub?: string;
  readonly channels?: readonly string[];
  readonly publish?: readonly string[];
  /** Lifetime in seconds. */
  readonly ttlSec: number;
}

/**
 * Loads the HS256 secret: from config when given, else from `<dataDir>/jwt-secret`,
 * generating it there (mode 0600) on first start so tokens survive restarts.
 */
export function loadSecret(configured: string, dataDir: string): string {
  if (configured !== '') return configured;
  const file = join(dataDir, 'jwt-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return secret;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * Verifies tokens and API keys and mints tokens. The algorithm allowlist is fixed here
 * (HS256), never taken from the token header, which is what defeats `alg: none` and
 * RS/HS confusion. No claim is read before the signature has been verified.
 */
export class TokenService {
  private readonly key: Uint8Array;
  private readonly keyHashes: Buffer[];

  constructor(private readonly options: TokenServiceOptions) {
    this.key = new TextEncoder().encode(options.secret);
    this.keyHashes = options.apiKeys.map(sha256);
  }

  /** True when `value` is one of the configured API keys (constant-time compare of hashes). */
  isApiKey(value: string): boolean {
    const h = sha256(value);
    let found = false;
    for (const k of this.keyHashes) if (timingSafeEqual(h, k)) found = true;
    return found;
  }

  /** Resolves a bearer credential (API key or JWT) to a principal, or throws a 401 error. */
  async authenticate(credential: string): Promise<Principal> {
    if (Buffer.byteLength(credential) > MAX_TOKEN_BYTES) {
      throw new HeraldError('HERALD_ERR_TOKEN_INVALID', 'token too large');
    }
    if (this.keyHashes.length > 0 && this.isApiKey(credential)) {
      return {
        kind: 'api-key',
        userId: undefined,
        subscribe: [],
        publish: [],
        publishAll: true,
        expiresAt: undefined,
      };
    }
    try {
      const { payload } = await jwtVerify(credential, this.key, {
        algorithms: ['HS256'],
        ...(this.options.issuer ? { issuer: this.options.issuer } : {}),
        ...(this.options.audience ? { audience: this.options.audience } : {}),
      });
      const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
      return {
        kind: 'token',
        userId: sub,
        subscribe: stringList(payload['channels']),
        publish: stringList(payload['publish']),
        publishAll: false,
        expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
      };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new HeraldError('HERALD_ERR_TOKEN_EXPIRED');
      throw new HeraldError('HERALD_ERR_TOKEN_INVALID');
    }
  }

  async mint(opts: MintOptions): Promise<string> {
    const claims: Record<string, unknown> = {};
    if (opts.channels && opts.channels.length > 0) claims['channels'] = [...opts.channels];
    if (opts.publish && opts.publish.length > 0) claims['publish'] = [...opts.publish];
    let jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + opts.ttlSec);
    if (opts.sub !== undefined) jwt = jwt.setSubject(opts.sub);
    if (this.options.issuer) jwt = jwt.setIssuer(this.options.issuer);
    if (this.options.audience) jwt = jwt.setAudience(this.options.audience);
    return jwt.sign(this.key);
  }
}
