import { type KeyObject, createSecretKey, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CryptoKey,
  type FlattenedJWSInput,
  type JWTHeaderParameters,
  type JWTPayload,
  SignJWT,
  createRemoteJWKSet,
  errors as joseErrors,
  importSPKI,
  jwtVerify,
} from 'jose';
import { HeraldError } from '../errors.js';
import { verifyHs256 } from './hs256.js';
import type { ApiKeyRecord, KeyStore } from '../keys/key-store.js';
import { apiKeyPrincipal, type Principal } from './principal.js';

/** Tokens longer than this are refused before any parsing (they are never legitimate). */
export const MAX_TOKEN_BYTES = 8192;

/** The signature algorithms Herald can verify. */
export const SUPPORTED_ALGORITHMS = ['HS256', 'RS256', 'ES256'] as const;

/** How long a looked-up stored API key is trusted before it is read again (revocation delay). */
const KEY_CACHE_MS = 5_000;

/** Verified tokens kept by default (see TokenServiceOptions.tokenCacheSize). */
const TOKEN_CACHE_SIZE = 10_000;

/** Stored API keys read `hk_<id>_<secret>`. */
const STORED_KEY = /^hk_([A-Za-z0-9]{12})_[A-Za-z0-9_-]{43}$/;

export interface TokenServiceOptions {
  readonly secret: string;
  readonly issuer: string;
  readonly audience: string;
  /** Configured API keys: publish anywhere, admin. */
  readonly apiKeys: readonly string[];
  /** Accepted algorithms; never taken from the token. Default HS256 only. */
  readonly algorithms?: readonly string[];
  /** SPKI PEM public key for RS256/ES256 tokens. */
  readonly publicKeyPem?: string;
  /** JWKS URL for RS256/ES256 tokens (cached and refreshed by jose). */
  readonly jwksUrl?: string;
  readonly jwksCacheMaxAgeMs?: number;
  /** Treat a bare "*" grant as every channel (an explicit admin opt-in; off by default). */
  readonly wildcardGrant?: boolean;
  /** Stored, scoped API keys. */
  readonly keyStore?: KeyStore;
  /** How many verified tokens are remembered (least recently used dropped first); 0: none. */
  readonly tokenCacheSize?: number;
}

export interface MintOptions {
  readonly sub?: string;
  readonly channels?: readonly string[];
  readonly publish?: readonly string[];
  readonly admin?: boolean;
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

// One-shot `hash`, not `createHash`: a Hash object per call is a C++ object that the garbage
// collector frees through a weak handle; at 2,000 publishes/s with an API key, freeing them
// took 0.7-1.7 ms of each 4-5 ms young-generation pause (--trace-gc-nvp).
export function sha256Hex(s: string): string {
  return hash('sha256', s, 'hex');
}

function sha256(s: string): Buffer {
  return hash('sha256', s, 'buffer');
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Makes a new stored API key: the secret is returned once and only its hash is kept. */
export function generateApiKey(): { id: string; key: string; hash: string } {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(12);
  let id = '';
  for (const b of bytes) id += alphabet[b % alphabet.length];
  const key = `hk_${id}_${randomBytes(32).toString('base64url')}`;
  return { id, key, hash: sha256Hex(key) };
}

/**
 * Verifies tokens and API keys and mints tokens.
 *
 * The algorithm allowlist comes from configuration, never from the token header: that is
 * what defeats `alg: none`, and RS/HS confusion (an HS256 token "signed" with the RSA public
 * key) fails because HS256 is only ever checked against the configured secret. No claim is
 * read before the signature has been verified, and oversized tokens are refused unparsed.
 */
export class TokenService {
  /** The HS256 secret, imported once (jose would import a Uint8Array on every call). */
  private hmacKey: KeyObject;
  /** The same secret as a WebCrypto key, for tokens left to jose; made on first use. */
  private hmacCryptoKey: Promise<CryptoKey> | undefined;
  /** The configured API keys: each one's hash, and the principal it authenticates as, made
   * once, so a publish request hashes its key once and builds no principal. */
  private readonly configKeys: { readonly hash: Buffer; readonly principal: Principal }[];
  private readonly algorithms: string[];
  private readonly jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  private readonly publicKeys = new Map<string, Promise<CryptoKey>>();
  private readonly keyCache = new Map<string, { at: number; principal: Principal | null }>();
  /**
   * Tokens already verified, by the SHA-256 of the token (the token itself is not kept), in
   * least-recently-used order: a reconnect storm presents the same tokens again, and each
   * would otherwise be parsed and its signature checked once more. An entry ends at the
   * token's `exp`, and all end when the secret changes (rotateSecret). Tokens checked against
   * a JWKS are not kept: its keys can be withdrawn at the issuer without this node knowing.
   */
  private readonly tokenCache = new Map<string, Principal>();
  private readonly tokenCacheSize: number;

  constructor(private readonly options: TokenServiceOptions) {
    this.hmacKey = createSecretKey(Buffer.from(options.secret, 'utf8'));
    this.configKeys = options.apiKeys.map((key) => {
      const hash = sha256(key);
      const keyId = 'cfg-' + hash.toString('hex').slice(0, 8);
      const principal = Object.freeze(apiKeyPrincipal(keyId, 'all', true));
      return { hash, principal };
    });
    this.tokenCacheSize = options.tokenCacheSize ?? TOKEN_CACHE_SIZE;
    this.algorithms = [...(options.algorithms ?? ['HS256'])];
    for (const alg of this.algorithms) {
      if (!(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg)) {
        throw new Error(`unsupported JWT algorithm ${alg}`);
      }
    }
    const asymmetric = this.algorithms.some((a) => a !== 'HS256');
    if (asymmetric && !options.publicKeyPem && !options.jwksUrl) {
      throw new Error('RS256/ES256 need jwtPublicKeyFile or jwksUrl');
    }
    this.jwks = options.jwksUrl
      ? createRemoteJWKSet(new URL(options.jwksUrl), {
          cacheMaxAge: options.jwksCacheMaxAgeMs ?? 600_000,
          cooldownDuration: 30_000,
        })
      : undefined;
  }

  /** The principal of the configured API key whose hash is `digest`, or undefined. Every key
   * is compared, in constant time, whatever matches. */
  private configKey(digest: Buffer): Principal | undefined {
    let found: Principal | undefined;
    for (const k of this.configKeys) if (timingSafeEqual(digest, k.hash)) found = k.principal;
    return found;
  }

  /** Resolves a bearer credential (API key or JWT) to a principal, or throws a 401 error. */
  async authenticate(credential: string): Promise<Principal> {
    if (Buffer.byteLength(credential) > MAX_TOKEN_BYTES) {
      throw new HeraldError('HERALD_ERR_TOKEN_INVALID', 'token too large');
    }
    // One hash of the credential serves the configured keys, a stored key and the token cache.
    const digest = sha256(credential);
    const configured = this.configKey(digest);
    if (configured) return configured;
    const stored = STORED_KEY.exec(credential);
    if (stored?.[1]) return this.storedKey(stored[1], credential, digest);
    const cacheKey = this.tokenCacheSize > 0 ? digest.toString('base64') : '';
    const cached = this.cachedToken(cacheKey);
    if (cached) return cached;
    const { payload, cacheable } = await this.verify(credential);
    const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
    const channels = stringList(payload['channels']);
    const publish = stringList(payload['publish']);
    // A bare "*" is an all-channel grant only where the operator opted in (wildcardGrant).
    const all = (grants: string[]) => this.options.wildcardGrant === true && grants.includes('*');
    const principal: Principal = Object.freeze({
      kind: 'token',
      userId: sub,
      subscribe: Object.freeze(channels),
      subscribeAll: all(channels),
      publish: Object.freeze(publish),
      publishAll: all(publish),
      admin: payload['admin'] === true,
      keyId: undefined,
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
    });
    if (cacheable && cacheKey !== '') this.cacheToken(cacheKey, principal);
    return principal;
  }

  /** A verified token's principal from the cache, unless it has expired since (then a 401). */
  private cachedToken(key: string): Principal | undefined {
    const hit = key === '' ? undefined : this.tokenCache.get(key);
    if (!hit) return undefined;
    this.tokenCache.delete(key);
    if (hit.expiresAt !== undefined && Date.now() >= hit.expiresAt) {
      throw new HeraldError('HERALD_ERR_TOKEN_EXPIRED');
    }
    this.tokenCache.set(key, hit); // most recently used last
    return hit;
  }

  private cacheToken(key: string, principal: Principal): void {
    while (this.tokenCache.size >= this.tokenCacheSize) {
      const oldest = this.tokenCache.keys().next().value;
      if (oldest === undefined) break;
      this.tokenCache.delete(oldest);
    }
    this.tokenCache.set(key, principal);
  }

  /** How many verified tokens are cached now. */
  get cachedTokenCount(): number {
    return this.tokenCache.size;
  }

  /**
   * Verifies with a new HS256 secret from now on. Tokens signed with the old one fail, and
   * none is answered from the cache of tokens verified before.
   */
  rotateSecret(secret: string): void {
    this.hmacKey = createSecretKey(Buffer.from(secret, 'utf8'));
    this.hmacCryptoKey = undefined;
    this.tokenCache.clear();
  }

  /** The verified claims, and whether the key that verified them is one of ours (cacheable). */
  private async verify(token: string): Promise<{ payload: JWTPayload; cacheable: boolean }> {
    if (this.algorithms.includes('HS256')) {
      const claims = { issuer: this.options.issuer, audience: this.options.audience };
      const payload = verifyHs256(token, this.hmacKey, claims);
      if (payload) return { payload, cacheable: true };
    }
    try {
      const { payload, protectedHeader } = await jwtVerify(
        token,
        (header: JWTHeaderParameters, input: FlattenedJWSInput) => this.keyFor(header, input),
        {
          algorithms: this.algorithms,
          ...(this.options.issuer ? { issuer: this.options.issuer } : {}),
          ...(this.options.audience ? { audience: this.options.audience } : {}),
        },
      );
      return { payload, cacheable: !this.jwks || protectedHeader.alg === 'HS256' };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new HeraldError('HERALD_ERR_TOKEN_EXPIRED');
      throw new HeraldError('HERALD_ERR_TOKEN_INVALID');
    }
  }

  /** The verification key for a header whose `alg` jose already checked against the list. */
  private async keyFor(header: JWTHeaderParameters, input: FlattenedJWSInput): Promise<CryptoKey> {
    if (header.alg === 'HS256') {
      // jose takes a CryptoKey as it is; a KeyObject it would export and import again.
      this.hmacCryptoKey ??= crypto.subtle.importKey(
        'raw',
        this.hmacKey.export(),
        { name: 'HMAC', hash: 'SHA-256' },
        false,
        ['verify'],
      );
      return this.hmacCryptoKey;
    }
    if (this.jwks) return this.jwks(header, input);
    const pem = this.options.publicKeyPem;
    if (!pem) throw new Error('no public key');
    let key = this.publicKeys.get(header.alg);
    if (!key) {
      key = importSPKI(pem, header.alg);
      this.publicKeys.set(header.alg, key);
    }
    return key;
  }

  /** A stored key: looked up by id, hash compared in constant time, cached for 5 s. */
  private async storedKey(id: string, credential: string, digest: Buffer): Promise<Principal> {
    const now = Date.now();
    const hit = this.keyCache.get(credential);
    let principal: Principal | null;
    if (hit && now - hit.at < KEY_CACHE_MS) principal = hit.principal;
    else {
      const rec = this.options.keyStore ? await this.options.keyStore.find(id) : undefined;
      const ok =
        rec !== undefined &&
        rec.revokedAt === null &&
        timingSafeEqual(Buffer.from(rec.hash, 'hex'), digest);
      principal = ok && rec ? apiKeyPrincipal(rec.id, rec.publish, rec.admin) : null;
      if (this.keyCache.size > 10_000) this.keyCache.clear();
      this.keyCache.set(credential, { at: now, principal });
    }
    if (!principal) throw new HeraldError('HERALD_ERR_TOKEN_INVALID', 'unknown or revoked API key');
    return principal;
  }

  /** The stored API keys, without their hashes (none without a key store). */
  async listKeys(): Promise<ApiKeyRecord[]> {
    return (await this.options.keyStore?.list()) ?? [];
  }

  /** Stores a new API key; the key itself is returned once, only its hash is kept. */
  async createKey(spec: {
    name: string;
    publish: readonly string[];
    admin: boolean;
  }): Promise<{ id: string; key: string }> {
    const store = this.options.keyStore;
    if (!store) throw new HeraldError('HERALD_ERR_STORE_UNAVAILABLE', 'no key store');
    const { id, key, hash } = generateApiKey();
    await store.create({ id, hash, ...spec, createdAt: Date.now(), revokedAt: null });
    return { id, key };
  }

  /** Revokes a stored key (false for an unknown id) and drops it from this node's cache. */
  async revokeKey(id: string): Promise<boolean> {
    const revoked = (await this.options.keyStore?.revoke(id, Date.now())) ?? false;
    if (revoked) this.forgetKey(id);
    return revoked;
  }

  /** Drops cached lookups of a key (after a revoke on this node; other nodes follow in 5 s). */
  forgetKey(id: string): void {
    for (const [credential, entry] of this.keyCache) {
      if (credential.startsWith(`hk_${id}_`) || entry.principal?.keyId === id) {
        this.keyCache.delete(credential);
      }
    }
  }

  /** Mints an HS256 token signed with the server's secret. */
  async mint(opts: MintOptions): Promise<string> {
    const claims: Record<string, unknown> = {};
    if (opts.channels && opts.channels.length > 0) claims['channels'] = [...opts.channels];
    if (opts.publish && opts.publish.length > 0) claims['publish'] = [...opts.publish];
    if (opts.admin) claims['admin'] = true;
    let jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + opts.ttlSec);
    if (opts.sub !== undefined) jwt = jwt.setSubject(opts.sub);
    if (this.options.issuer) jwt = jwt.setIssuer(this.options.issuer);
    if (this.options.audience) jwt = jwt.setAudience(this.options.audience);
    return jwt.sign(this.hmacKey);
  }
}
