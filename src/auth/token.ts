/**
 * `auth.token`: delegated bearer-token authentication per the distribution token-authentication
 * spec. A request without a token, or with a bad one, is answered 401 with
 * `WWW-Authenticate: Bearer realm=…,service=…,scope=…` naming the access it needs; a valid token
 * whose `access` claim lacks that access gets the same challenge with `error="insufficient_scope"`
 * (and the body code DENIED), so the client can fetch a token for the missing scope.
 */
import { type Access, type AccessController, ChallengeError, formatScope, type Grant, quoteParam } from './access.js';
import type { FailureTracker } from './failures.js';
import type { AccessPolicy } from './rules.js';
import { claimsAllow, type TokenVerifier } from './token-verify.js';

export interface TokenControllerOptions {
  /** `auth.token.realm`: where clients get tokens (unless `realmFor` derives it per request). */
  realm: string;
  /** Derives the realm from the request's origin (`autoredirect`). */
  realmFor?: ((origin: string) => string) | undefined;
  /** `auth.token.service`. */
  service: string;
  verifier: TokenVerifier;
  failures: FailureTracker;
  /**
   * Access rules, when configured: the catalog then lists only what the token's subject may
   * pull under them. Without rules a catalog token lists everything, as in registry:2.
   */
  policy?: AccessPolicy | undefined;
}

const BEARER = /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i;

export function createTokenController(options: TokenControllerOptions): AccessController {
  const { verifier, failures, policy } = options;
  const challenge = (origin: string, wanted: readonly Access[], error?: string): string => {
    const realm = options.realmFor?.(origin) ?? options.realm;
    let value = `Bearer realm=${quoteParam(realm)},service=${quoteParam(options.service)}`;
    const scope = formatScope(wanted);
    if (scope !== '') value += `,scope=${quoteParam(scope)}`;
    if (error !== undefined) value += `,error=${quoteParam(error)}`;
    return value;
  };
  return {
    async authorize(request, wanted) {
      if (request.authorization === undefined) throw new ChallengeError(challenge(request.origin, wanted), wanted);
      const token = BEARER.exec(request.authorization)?.[1];
      if (token === undefined) {
        failures.record(undefined, request.remoteAddress, 'not a bearer token');
        throw new ChallengeError(
          challenge(request.origin, wanted, 'invalid_token'),
          wanted,
          'invalid authorization credential',
        );
      }
      let claims: Awaited<ReturnType<TokenVerifier['verify']>>;
      try {
        claims = await verifier.verify(token);
      } catch (error) {
        failures.record(undefined, request.remoteAddress, `invalid token: ${(error as Error).message}`);
        throw new ChallengeError(challenge(request.origin, wanted, 'invalid_token'), wanted, 'invalid token');
      }
      const user = claims.subject === '' ? undefined : claims.subject;
      if (!wanted.every((access) => claimsAllow(claims.access, access))) {
        throw new ChallengeError(
          challenge(request.origin, wanted, 'insufficient_scope'),
          wanted,
          'requested access to the resource is denied',
          true,
        );
      }
      const grant: Grant = {
        user,
        allows: (access) => claimsAllow(claims.access, access),
        canList: (repository) =>
          policy === undefined || policy.allows(user, { type: 'repository', name: repository, action: 'pull' }),
      };
      return grant;
    },
  };
}
