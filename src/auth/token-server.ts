/**
 * The built-in token server at `/auth/token`, so per-repository permissions need no other
 * service. It speaks Docker's token protocol: `GET ?service=&scope=` with optional Basic
 * credentials (anonymous otherwise), answering `{token, access_token, expires_in, issued_at}`,
 * and the OAuth2 `POST` form (`grant_type=password` or `refresh_token`) that `docker login`
 * and later pulls use. Users come from an htpasswd file; each token grants the intersection of
 * the scopes asked for and what the access rules allow, so a token never says "denied" — the
 * registry does, when the token lacks what a request needs.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jwtVerify, SignJWT } from 'jose';
import type { Logger } from 'pino';
import { readCappedBody, settleUnreadBody } from '../http/body.js';
import type { RequestContext } from '../http/context.js';
import { isRegistryError } from '../registry/errors.js';
import { isRepositoryName } from '../registry/names.js';
import { parseScopes, quoteParam, REPOSITORY_ACTIONS, type ResourceActions } from './access.js';
import { isEmptyBasic, parseBasic } from './basic.js';
import type { FailureTracker } from './failures.js';
import type { HtpasswdStore } from './htpasswd.js';
import type { SigningKey } from './keys.js';
import type { AccessPolicy } from './rules.js';

export interface TokenServerOptions {
  /** `auth.token.issuer`: the `iss` of issued tokens. */
  issuer: string;
  /** `auth.token.service`: the `aud` of issued tokens. */
  service: string;
  key: SigningKey;
  users: HtpasswdStore;
  policy: AccessPolicy;
  failures: FailureTracker;
  logger: Logger;
  /** Access-token lifetime (ms). */
  expirationMs: number;
  /** Refresh-token lifetime (ms). */
  refreshExpirationMs: number;
  /** The client address of a request (honouring trusted proxies), for failure logs. */
  addressOf: (req: IncomingMessage) => string | undefined;
}

/** Serves one token request; `context` is the request's (its signal, and the user it records). */
export type TokenEndpoint = (req: IncomingMessage, res: ServerResponse, context: RequestContext) => Promise<void>;

const MAX_FORM_BYTES = 64 * 1024;

/** The scopes `user` gets out of `requested` under `policy`. */
export function grantScopes(
  policy: AccessPolicy,
  user: string | undefined,
  requested: readonly ResourceActions[],
): ResourceActions[] {
  const granted: ResourceActions[] = [];
  for (const r of requested) {
    if (r.type === 'registry') {
      if (r.name === 'catalog' && r.actions.includes('*') && policy.mayListCatalog(user)) {
        granted.push({ type: 'registry', name: 'catalog', actions: ['*'] });
      }
      continue;
    }
    if (r.type !== 'repository' || !isRepositoryName(r.name)) continue;
    const held = policy.repositoryActions(user, r.name);
    const actions = new Set<string>();
    for (const a of r.actions) {
      if (a === '*') {
        for (const h of held) actions.add(h);
        if (REPOSITORY_ACTIONS.every((x) => held.has(x))) actions.add('*');
      } else if (held.has(a as never)) actions.add(a);
    }
    if (actions.size > 0) granted.push({ type: 'repository', name: r.name, actions: [...actions] });
  }
  return granted;
}

class TokenRequestError extends Error {
  readonly status: number;
  readonly oauthError: string;
  constructor(status: number, oauthError: string, message: string) {
    super(message);
    this.status = status;
    this.oauthError = oauthError;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': bytes.length,
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
  });
  res.end(bytes);
}

async function readForm(req: IncomingMessage, signal: AbortSignal): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new TokenRequestError(400, 'invalid_request', 'expected an application/x-www-form-urlencoded body');
  }
  try {
    return new URLSearchParams((await readCappedBody(req, MAX_FORM_BYTES, signal)).toString('utf8'));
  } catch (error) {
    if (isRegistryError(error)) throw new TokenRequestError(413, 'invalid_request', 'request body too large');
    throw error;
  }
}

export function createTokenServer(options: TokenServerOptions): TokenEndpoint {
  const { key, users, policy, failures, logger, service, issuer, addressOf } = options;
  const refreshAudience = `berth-refresh:${service}`;

  const accessToken = async (user: string | undefined, scopes: readonly ResourceActions[]) => {
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = Math.max(1, Math.floor(options.expirationMs / 1000));
    const token = await new SignJWT({ access: scopes })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(user ?? '')
      .setAudience(service)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + expiresIn)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { token, expiresIn, issuedAt: new Date(now * 1000).toISOString() };
  };

  /** A refresh token is a signed claim "this user, with this password entry": a new password voids it. */
  const refreshToken = async (user: string): Promise<string | undefined> => {
    const tag = await users.entryTag(user);
    if (tag === undefined) return undefined;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ tag })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(user)
      .setAudience(refreshAudience)
      .setIssuedAt(now)
      .setExpirationTime(now + Math.max(1, Math.floor(options.refreshExpirationMs / 1000)))
      .setJti(randomUUID())
      .sign(key.privateKey);
  };

  const userOfRefreshToken = async (token: string, remoteAddress: string | undefined): Promise<string> => {
    try {
      const { payload } = await jwtVerify(token, key.publicKey, {
        issuer,
        audience: refreshAudience,
        algorithms: [key.alg],
        requiredClaims: ['exp', 'sub'],
      });
      const user = payload.sub ?? '';
      if (user !== '' && payload['tag'] === (await users.entryTag(user))) return user;
    } catch {
      // Reported below like any other rejected refresh token.
    }
    failures.record(undefined, remoteAddress, 'invalid refresh token');
    throw new TokenRequestError(400, 'invalid_grant', 'invalid refresh token');
  };

  const checkPassword = async (user: string, password: string, remoteAddress: string | undefined): Promise<void> => {
    if (await users.verify(user, password)) return;
    failures.record(user, remoteAddress, 'invalid user name or password');
    throw new TokenRequestError(401, 'invalid_grant', 'invalid user name or password');
  };

  const checkService = (requested: string | null): void => {
    if (requested !== null && requested !== '' && requested !== service) {
      throw new TokenRequestError(400, 'invalid_request', `unknown service ${JSON.stringify(requested.slice(0, 100))}`);
    }
  };

  const issue = async (
    context: RequestContext,
    user: string | undefined,
    scopeValues: string[],
    withRefresh: boolean,
  ) => {
    const scopes = grantScopes(policy, user, parseScopes(scopeValues));
    const { token, expiresIn, issuedAt } = await accessToken(user, scopes);
    const refresh = withRefresh && user !== undefined ? await refreshToken(user) : undefined;
    context.user = user;
    logger.debug({ user, scopes }, 'token issued');
    return {
      token,
      access_token: token,
      expires_in: expiresIn,
      issued_at: issuedAt,
      ...(refresh === undefined ? {} : { refresh_token: refresh }),
      scope: scopes.map((s) => `${s.type}:${s.name}:${s.actions.join(',')}`).join(' '),
    };
  };

  const handleGet = async (
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
    context: RequestContext,
  ) => {
    checkService(query.get('service'));
    let user: string | undefined;
    const credentials = parseBasic(req.headers.authorization);
    if (req.headers.authorization !== undefined && !isEmptyBasic(credentials)) {
      if (credentials === undefined) {
        failures.record(undefined, addressOf(req), 'malformed or non-Basic credentials');
        throw new TokenRequestError(401, 'invalid_client', 'invalid authorization credential');
      }
      await checkPassword(credentials.user, credentials.password, addressOf(req));
      user = credentials.user;
    }
    sendJson(res, 200, await issue(context, user, query.getAll('scope'), query.get('offline_token') === 'true'));
  };

  const handlePost = async (req: IncomingMessage, res: ServerResponse, context: RequestContext) => {
    const form = await readForm(req, context.signal);
    checkService(form.get('service'));
    const remote = addressOf(req);
    let user: string;
    switch (form.get('grant_type')) {
      case 'password': {
        const name = form.get('username') ?? '';
        if (name === '') throw new TokenRequestError(400, 'invalid_request', 'username missing');
        await checkPassword(name, form.get('password') ?? '', remote);
        user = name;
        break;
      }
      case 'refresh_token':
        user = await userOfRefreshToken(form.get('refresh_token') ?? '', remote);
        break;
      default:
        throw new TokenRequestError(400, 'unsupported_grant_type', 'grant_type must be password or refresh_token');
    }
    const scopes = form.getAll('scope');
    sendJson(res, 200, await issue(context, user, scopes, form.get('access_type') === 'offline'));
  };

  return async (req, res, context) => {
    const url = req.url ?? '/';
    const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
    try {
      if (req.method === 'GET') await handleGet(req, res, query, context);
      else if (req.method === 'POST') await handlePost(req, res, context);
      else {
        settleUnreadBody(req, res);
        res.writeHead(405, { Allow: 'GET, POST', 'Content-Length': 0 });
        res.end();
      }
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      settleUnreadBody(req, res);
      if (!(error instanceof TokenRequestError)) {
        logger.error({ err: error }, 'token request failed');
        sendJson(res, 500, { error: 'server_error' });
        return;
      }
      const headers: Record<string, string> =
        error.status === 401 ? { 'WWW-Authenticate': `Basic realm=${quoteParam(service)}` } : {};
      // OAuth2 clients read `error`; Docker's client shows the registry-style `errors` of a 401.
      const body: Record<string, unknown> = { error: error.oauthError, error_description: error.message };
      if (error.status === 401) body['errors'] = [{ code: 'UNAUTHORIZED', message: error.message, detail: null }];
      sendJson(res, error.status, body, headers);
    }
  };
}
