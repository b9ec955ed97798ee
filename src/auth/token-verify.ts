/**
 * Verifies registry bearer tokens (JWTs) as distribution's token access controller does, with
 * `jose`: the signing key comes from the token's `x5c` chain (which must lead to a certificate of
 * the root bundle), from its `kid` (a key of the bundle by libtrust key id or RFC 7638 thumbprint,
 * the built-in server's own key, or a key of the JWKS), or from an embedded `jwk` whose
 * thumbprint is trusted. Then `iss`, `aud`, `exp` and `nbf` are checked with a small leeway
 * against an algorithm allow-list, and the `access` claim is read.
 */
import { type KeyObject, X509Certificate } from 'node:crypto';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  type JSONWebKeySet,
  type JWK,
  type JWSHeaderParameters,
  jwtVerify,
} from 'jose';
import type { Access, ResourceActions } from './access.js';
import { jwkThumbprint, libtrustKeyId } from './keys.js';

/** Algorithms accepted when `signingalgorithms` is not configured: every asymmetric JWS algorithm. */
export const DEFAULT_ALGORITHMS: readonly string[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

/** distribution's leeway for `exp` and `nbf`. */
export const LEEWAY_SECONDS = 60;

/** What a verified token says. */
export interface TokenClaims {
  /** `sub`; empty for anonymous tokens. */
  subject: string;
  /** The `access` claim. */
  access: ResourceActions[];
}

export interface TokenVerifier {
  /**
   * Verifies `token`.
   * @throws Error (with a short reason as message) when the signature, issuer, audience, times,
   *   algorithm or claims are not acceptable.
   */
  verify(token: string): Promise<TokenClaims>;
}

export interface TokenVerifierOptions {
  /** `auth.token.issuer`: the `iss` every token must carry. */
  issuer: string;
  /** `auth.token.service`: must be in `aud`. */
  service: string;
  /** Certificates of `rootcertbundle`. */
  roots: readonly X509Certificate[];
  /** The `jwks` key set. */
  jwks?: JSONWebKeySet | undefined;
  /** Further public keys trusted by id (the built-in token server's own key). */
  keys?: ReadonlyArray<{ kid: string; key: KeyObject }>;
  /** Allowed JWS algorithms; default {@link DEFAULT_ALGORITHMS}. */
  algorithms?: readonly string[] | undefined;
}

/** Splits a PEM bundle into certificates. @throws Error when it holds none or a bad one. */
export function parseCertificateBundle(pem: string, source: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${source}: no certificates found`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new Error(`${source}: certificate ${i + 1} is invalid: ${(error as Error).message}`);
    }
  });
}

function currentlyValid(cert: X509Certificate, now: number): boolean {
  return (
    Date.parse(cert.validFrom) <= now + LEEWAY_SECONDS * 1000 && now - LEEWAY_SECONDS * 1000 <= Date.parse(cert.validTo)
  );
}

/**
 * Checks an `x5c` chain: each certificate is signed by the next, issuers are CAs, all are
 * within their validity, and the chain ends at (or is signed by) a root of the bundle.
 * @returns the leaf's public key.
 */
function verifyChain(x5c: readonly string[], roots: readonly X509Certificate[]): KeyObject {
  if (roots.length === 0) throw new Error('x5c chain given but no rootcertbundle is configured');
  const chain = x5c.map((b64) => new X509Certificate(Buffer.from(b64, 'base64')));
  const now = Date.now();
  const isRoot = (cert: X509Certificate) => roots.some((root) => root.fingerprint256 === cert.fingerprint256);
  for (const [i, cert] of chain.entries()) {
    if (!currentlyValid(cert, now)) throw new Error('a certificate of the x5c chain is outside its validity');
    if (isRoot(cert)) return (chain[0] as X509Certificate).publicKey;
    const issuer = chain[i + 1];
    if (issuer === undefined) {
      const root = roots.find((r) => r.ca && cert.checkIssued(r) && cert.verify(r.publicKey));
      if (root === undefined || !currentlyValid(root, now))
        throw new Error('the x5c chain does not lead to a trusted root');
      return (chain[0] as X509Certificate).publicKey;
    }
    if (!issuer.ca || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
      throw new Error('the x5c chain is broken');
    }
  }
  throw new Error('empty x5c chain');
}

function isResourceActions(value: unknown): value is ResourceActions {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['type'] === 'string' &&
    typeof v['name'] === 'string' &&
    Array.isArray(v['actions']) &&
    v['actions'].every((a) => typeof a === 'string')
  );
}

/** Whether a token's `access` claim covers `access` (an entry's `*` covers every action). */
export function claimsAllow(claims: readonly ResourceActions[], access: Access): boolean {
  return claims.some(
    (c) =>
      c.type === access.type &&
      c.name === access.name &&
      (c.actions.includes(access.action) || c.actions.includes('*')),
  );
}

export async function createTokenVerifier(options: TokenVerifierOptions): Promise<TokenVerifier> {
  const trusted = new Map<string, KeyObject>();
  for (const root of options.roots) {
    trusted.set(libtrustKeyId(root.publicKey), root.publicKey);
    trusted.set(await jwkThumbprint(root.publicKey), root.publicKey);
  }
  for (const { kid, key } of options.keys ?? []) {
    trusted.set(kid, key);
    trusted.set(await jwkThumbprint(key), key);
  }
  const jwks = options.jwks === undefined ? undefined : createLocalJWKSet(options.jwks);
  const algorithms = [...(options.algorithms ?? DEFAULT_ALGORITHMS)];

  const resolveKey = async (header: JWSHeaderParameters, token: Parameters<NonNullable<typeof jwks>>[1]) => {
    if (header.x5c !== undefined) return verifyChain(header.x5c, options.roots);
    if (header.jwk !== undefined) {
      const key = trusted.get(await calculateJwkThumbprint(header.jwk as JWK));
      if (key === undefined) throw new Error('the embedded jwk is not trusted');
      return key;
    }
    const known = header.kid === undefined ? undefined : trusted.get(header.kid);
    if (known !== undefined) return known;
    if (jwks !== undefined) return jwks(header, token);
    throw new Error(header.kid === undefined ? 'the token names no key (kid, x5c or jwk)' : 'unknown signing key');
  };

  return {
    async verify(token) {
      const { payload } = await jwtVerify(token, resolveKey, {
        issuer: options.issuer,
        audience: options.service,
        algorithms,
        clockTolerance: LEEWAY_SECONDS,
        requiredClaims: ['exp'],
      });
      const access = payload['access'] ?? [];
      if (!Array.isArray(access) || !access.every(isResourceActions)) throw new Error('malformed access claim');
      return { subject: typeof payload.sub === 'string' ? payload.sub : '', access };
    },
  };
}
