/**
 * The access-controller contract, shared by every authentication scheme (htpasswd, token, silly):
 * the dispatcher computes the access a request needs, asks the controller, and either proceeds
 * with the returned {@link Grant} or answers the controller's error. Access records follow the
 * distribution token-authentication spec: `repository:<name>:pull,push`, `registry:catalog:*`.
 */
import { ApiError } from '../api/errors.js';

/** An action on a repository; `*` stands for all of them (and is the only catalog action). */
export type Action = 'pull' | 'push' | 'delete' | '*';

/** The repository actions `*` expands to. */
export const REPOSITORY_ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

/** One access record: an action on a named resource, as in the token spec's scopes. */
export interface Access {
  /** `repository` or `registry` (for the catalog). */
  readonly type: string;
  /** The repository name, or `catalog`. */
  readonly name: string;
  /** The action wanted on it. */
  readonly action: string;
}

/** The catalog access record, `registry:catalog:*`. */
export const CATALOG_ACCESS: Access = { type: 'registry', name: 'catalog', action: '*' };

/** What the controller learns about the caller from the request. */
export interface AuthRequest {
  /** The `Authorization` header as sent, if any. */
  readonly authorization: string | undefined;
  /** The client's address, for failure logs and per-address counters. */
  readonly remoteAddress: string | undefined;
  /** `scheme://host` the client addressed; token auth's `autoredirect` builds its realm from it. */
  readonly origin: string;
}

/** What an authorized caller may do, beyond the access it was granted for this request. */
export interface Grant {
  /** The authenticated user name; undefined for an anonymous caller (and with `auth.silly`). */
  readonly user: string | undefined;
  /**
   * Whether the caller holds `access` as well (e.g. pull on a mount's source repository).
   * Pure and synchronous: it only reads what authorization already established.
   */
  allows(access: Access): boolean;
  /** Whether the catalog may list `repository` to this caller (it lists only what they may pull). */
  canList(repository: string): boolean;
}

export interface AccessController {
  /**
   * Authenticates the caller and checks that it holds every access in `wanted` (an empty list
   * means "authentication only", as for `GET /v2/`).
   * @returns the caller's grant.
   * @throws ChallengeError (401 with `WWW-Authenticate`) when credentials are missing, wrong, or
   *   (for tokens) lack the access; AccessDeniedError (403 DENIED) when an authenticated user
   *   may not do what was asked.
   */
  authorize(request: AuthRequest, wanted: readonly Access[]): Promise<Grant>;
}

/** A grant that allows everything (auth.silly, or htpasswd without access rules). */
export function grantAll(user: string | undefined): Grant {
  return { user, allows: () => true, canList: () => true };
}

/** distribution's `detail` for auth errors: the access records the request needed. */
function accessDetail(wanted: readonly Access[]): unknown {
  return wanted.map((a) => ({ Type: a.type, Name: a.name, Action: a.action }));
}

/** 401: the caller must (re)authenticate; `challenge` is the `WWW-Authenticate` value. */
export class ChallengeError extends ApiError {
  constructor(challenge: string, wanted: readonly Access[], message = 'authentication required', denied = false) {
    super(401, denied ? 'DENIED' : 'UNAUTHORIZED', message, accessDetail(wanted), {
      'WWW-Authenticate': challenge,
    });
    this.name = 'ChallengeError';
  }
}

/** 403 DENIED: the caller is known and may not do this. */
export class AccessDeniedError extends ApiError {
  constructor(wanted: readonly Access[]) {
    super(403, 'DENIED', 'requested access to the resource is denied', accessDetail(wanted));
    this.name = 'AccessDeniedError';
  }
}

/** Quotes a challenge parameter value (RFC 7235 quoted-string). */
export function quoteParam(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * The token spec's `scope` value for `wanted`: one `type:name:actions` entry per resource, in
 * first-seen order, actions joined by commas, entries joined by spaces.
 */
export function formatScope(wanted: readonly Access[]): string {
  const byResource = new Map<string, string[]>();
  for (const access of wanted) {
    const key = `${access.type}:${access.name}`;
    const actions = byResource.get(key) ?? [];
    if (!actions.includes(access.action)) actions.push(access.action);
    byResource.set(key, actions);
  }
  return [...byResource].map(([resource, actions]) => `${resource}:${actions.join(',')}`).join(' ');
}

/** One resource with the actions asked for or granted, as in a token's `access` claim. */
export interface ResourceActions {
  type: string;
  name: string;
  actions: string[];
}

/**
 * Parses `scope` values (each possibly several space-separated entries) into resources.
 * `repository(plugin):name:pull` keeps only the type; malformed entries are skipped, as token
 * servers do. A name may not contain `:` in a repository, so the last `:` ends it.
 */
export function parseScopes(values: readonly string[]): ResourceActions[] {
  const out: ResourceActions[] = [];
  for (const value of values) {
    for (const entry of value.split(' ')) {
      const first = entry.indexOf(':');
      const last = entry.lastIndexOf(':');
      if (first <= 0 || last === first) continue;
      const type = entry.slice(0, first).replace(/\(.*\)$/, '');
      const name = entry.slice(first + 1, last);
      const actions = entry
        .slice(last + 1)
        .split(',')
        .filter((a) => a !== '');
      if (name === '' || actions.length === 0) continue;
      const existing = out.find((r) => r.type === type && r.name === name);
      if (existing === undefined) out.push({ type, name, actions: [...new Set(actions)] });
      else for (const a of actions) if (!existing.actions.includes(a)) existing.actions.push(a);
    }
  }
  return out;
}
