/**
 * `auth.htpasswd`: HTTP Basic authentication against an htpasswd file, with the access rules
 * applied per request. Anonymous callers get what anonymous rules grant and a 401 challenge for
 * anything else; authenticated users lacking access get 403 DENIED; wrong credentials always get
 * the same 401, whether or not the user exists.
 */
import {
  type Access,
  type AccessController,
  AccessDeniedError,
  ChallengeError,
  type Grant,
  quoteParam,
} from './access.js';
import type { FailureTracker } from './failures.js';
import type { HtpasswdStore } from './htpasswd.js';
import type { AccessPolicy } from './rules.js';

/** Basic credentials from an `Authorization` header. */
export interface BasicCredentials {
  user: string;
  password: string;
}

/**
 * Decodes `Basic base64(user:password)`.
 * @returns undefined when the header is not Basic or is malformed; an empty user and password
 *   for `Basic Og==` (see isEmptyBasic).
 */
export function parseBasic(header: string | undefined): BasicCredentials | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header);
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (decoded === ':') return { user: '', password: '' };
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Whether the header is Basic with an empty user and password: containers/image (skopeo, podman)
 * sends that when it has no credentials, so it means "anonymous", not "wrong password".
 */
export function isEmptyBasic(credentials: BasicCredentials | undefined): boolean {
  return credentials !== undefined && credentials.user === '' && credentials.password === '';
}

/** The grant of a caller under `policy`. */
export function policyGrant(policy: AccessPolicy, user: string | undefined): Grant {
  return {
    user,
    allows: (access) => policy.allows(user, access),
    canList: (repository) => policy.allows(user, { type: 'repository', name: repository, action: 'pull' }),
  };
}

export interface BasicControllerOptions {
  /** `auth.htpasswd.realm`. */
  realm: string;
  users: HtpasswdStore;
  policy: AccessPolicy;
  failures: FailureTracker;
}

export function createBasicController(options: BasicControllerOptions): AccessController {
  const { users, policy, failures } = options;
  const challenge = `Basic realm=${quoteParam(options.realm)}`;
  const allowed = (user: string | undefined, wanted: readonly Access[]): boolean =>
    wanted.every((access) => policy.allows(user, access));
  return {
    async authorize(request, wanted) {
      const credentials = parseBasic(request.authorization);
      if (request.authorization === undefined || isEmptyBasic(credentials)) {
        // `GET /v2/` (nothing wanted) always challenges, so clients learn the scheme even when
        // anonymous pulls are allowed.
        if (wanted.length > 0 && allowed(undefined, wanted)) return policyGrant(policy, undefined);
        throw new ChallengeError(challenge, wanted);
      }
      if (credentials === undefined) {
        failures.record(undefined, request.remoteAddress, 'malformed or non-Basic credentials');
        throw new ChallengeError(challenge, wanted, 'invalid authorization credential');
      }
      if (!(await users.verify(credentials.user, credentials.password))) {
        failures.record(credentials.user, request.remoteAddress, 'invalid user name or password');
        throw new ChallengeError(challenge, wanted, 'invalid user name or password');
      }
      if (!allowed(credentials.user, wanted)) throw new AccessDeniedError(wanted);
      return policyGrant(policy, credentials.user);
    },
  };
}
