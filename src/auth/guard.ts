/**
 * Builds access control from the configuration (`auth.htpasswd`, `auth.token` with the optional
 * built-in token server, `auth.silly`, and the `access` rules) and gives the dispatcher its two
 * hooks: authorize an API request, and serve the token endpoint outside `/v2/`.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { JSONWebKeySet } from 'jose';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { parseTrustedProxies, requestClientAddress } from '../http/client-address.js';
import type { Route } from '../http/routes.js';
import { requestOrigin } from '../http/urls.js';
import { isRepositoryName } from '../registry/names.js';
import { createStorageDriver, DEFAULT_ROOT_DIRECTORY } from '../storage/factory.js';
import type { AccessController, Grant } from './access.js';
import { createBasicController } from './basic.js';
import { createFailureTracker, type FailureTracker } from './failures.js';
import { createHtpasswdStore } from './htpasswd.js';
import { loadOrCreateStoredKey, loadSigningKey, type SigningKey } from './keys.js';
import { wantedAccess } from './route-access.js';
import { type AccessPolicy, AUTHENTICATED_ONLY, compileAccessPolicy } from './rules.js';
import { createSillyController } from './silly.js';
import { createTokenController } from './token.js';
import { createTokenServer, type TokenEndpoint } from './token-server.js';
import { createTokenVerifier, DEFAULT_ALGORITHMS, parseCertificateBundle } from './token-verify.js';

export interface AuthGuard {
  /**
   * Authorizes one API request for the access its route and method need. A blob mount whose
   * source the caller may not pull (or that names no source) has its `mount`/`from` parameters
   * removed from `query`, so it falls back to a plain upload as the spec allows.
   * @returns the caller's grant.
   * @throws ChallengeError or AccessDeniedError (see AccessController).
   */
  authorize(req: IncomingMessage, route: Route, query: URLSearchParams): Promise<Grant>;
  /** The handler serving `pathname` outside the API (the built-in token endpoint), if any. */
  endpoint(pathname: string): TokenEndpoint | undefined;
}

export interface AuthOptions {
  logger: Logger;
  /** The normalised `http.prefix`; the token endpoint is `<prefix>auth/token`. */
  prefix: string;
}

/** Where a request comes from, for failure logs and per-address counters. */
type AddressOf = (req: IncomingMessage) => string | undefined;

/** The client address as the access log shows it: behind a trusted proxy, from X-Forwarded-For. */
function addressResolver(config: Config): AddressOf {
  const trusted = parseTrustedProxies(config.http.trustedproxies);
  return (req) => {
    return requestClientAddress(req, trusted);
  };
}

type TokenConfig = NonNullable<NonNullable<Config['auth']>['token']>;

/** Every JWS algorithm jose can verify with an asymmetric key; `none` and HMAC are never accepted. */
const KNOWN_ALGORITHMS = new Set(DEFAULT_ALGORITHMS);

function checkAlgorithms(configured: readonly string[] | undefined): readonly string[] {
  if (configured === undefined) return DEFAULT_ALGORITHMS;
  for (const alg of configured) {
    if (!KNOWN_ALGORITHMS.has(alg)) {
      throw new Error(
        `auth.token.signingalgorithms: unsupported algorithm ${JSON.stringify(alg)} (supported: ${DEFAULT_ALGORITHMS.join(', ')})`,
      );
    }
  }
  return configured;
}

async function readJwks(path: string): Promise<JSONWebKeySet> {
  const parsed = JSON.parse(await readFile(path, 'utf8')) as unknown;
  if (parsed === null || typeof parsed !== 'object' || !Array.isArray((parsed as { keys?: unknown }).keys)) {
    throw new Error(`auth.token.jwks ${path}: expected a JSON Web Key Set ({"keys": [...]})`);
  }
  return parsed as JSONWebKeySet;
}

async function serverKey(
  config: Config,
  server: NonNullable<TokenConfig['server']>,
  logger: Logger,
): Promise<SigningKey> {
  if (server.key !== undefined) return loadSigningKey(server.key, server.certificate);
  if (server.certificate !== undefined) throw new Error('auth.token.server.certificate needs auth.token.server.key');
  const fs = config.storage.filesystem;
  return loadOrCreateStoredKey({
    driver: createStorageDriver(config.storage),
    logger,
    filesystemRoot: fs === undefined ? undefined : fs.rootdirectory || DEFAULT_ROOT_DIRECTORY,
  });
}

interface TokenSetup {
  controller: AccessController;
  endpoint: TokenEndpoint | undefined;
}

async function createTokenAuth(
  config: Config,
  token: TokenConfig,
  policy: AccessPolicy | undefined,
  failures: FailureTracker,
  options: AuthOptions,
  addressOf: AddressOf,
): Promise<TokenSetup> {
  const { logger } = options;
  const roots =
    token.rootcertbundle === undefined
      ? []
      : parseCertificateBundle(
          await readFile(token.rootcertbundle, 'utf8'),
          `auth.token.rootcertbundle ${token.rootcertbundle}`,
        );
  const jwks = token.jwks === undefined ? undefined : await readJwks(token.jwks);
  const algorithms = checkAlgorithms(token.signingalgorithms);
  let endpoint: TokenEndpoint | undefined;
  const keys: Array<{ kid: string; key: SigningKey['publicKey'] }> = [];
  if (token.server !== undefined) {
    const key = await serverKey(config, token.server, logger);
    if (!algorithms.includes(key.alg)) {
      throw new Error(`auth.token.signingalgorithms does not include ${key.alg}, the token server key's algorithm`);
    }
    keys.push({ kid: key.kid, key: key.publicKey });
    endpoint = createTokenServer({
      issuer: token.issuer,
      service: token.service,
      key,
      users: await createHtpasswdStore({ path: token.server.htpasswd.path, logger }),
      policy: policy ?? AUTHENTICATED_ONLY,
      failures,
      logger,
      expirationMs: token.server.expiration,
      refreshExpirationMs: token.server.refreshexpiration,
      addressOf,
    });
  } else if (roots.length === 0 && jwks === undefined) {
    throw new Error(
      'auth.token needs rootcertbundle or jwks to verify tokens (or server: for the built-in token server)',
    );
  }
  const verifier = await createTokenVerifier({
    issuer: token.issuer,
    service: token.service,
    roots,
    jwks,
    keys,
    algorithms,
  });
  const path = token.autoredirectpath ?? `${options.prefix}auth/token`;
  const controller = createTokenController({
    realm: token.realm,
    realmFor: token.autoredirect === true ? (origin) => origin + path : undefined,
    service: token.service,
    verifier,
    failures,
    policy,
  });
  return { controller, endpoint };
}

/**
 * The access control `config` asks for, or undefined when `auth` is not configured.
 * @throws Error with an operator-facing message when a file is missing or invalid (an htpasswd
 *   entry that is not bcrypt, a bad certificate bundle or key) or the settings contradict.
 */
export async function createAuth(config: Config, options: AuthOptions): Promise<AuthGuard | undefined> {
  const { logger } = options;
  const auth = config.auth;
  const access = config.access;
  if (auth?.silly === undefined && auth?.htpasswd === undefined && auth?.token === undefined) {
    if (access !== undefined) throw new Error('access rules need auth.htpasswd or auth.token to know who is asking');
    return undefined;
  }
  const failures = createFailureTracker({ logger });
  const addressOf = addressResolver(config);
  const policy = access === undefined ? undefined : compileAccessPolicy(access);
  let controller: AccessController;
  let tokenEndpoint: TokenEndpoint | undefined;
  if (auth.silly !== undefined) {
    if (access !== undefined) logger.warn('access rules are ignored with auth.silly');
    controller = createSillyController(auth.silly);
  } else if (auth.htpasswd !== undefined) {
    controller = createBasicController({
      realm: auth.htpasswd.realm,
      users: await createHtpasswdStore({ path: auth.htpasswd.path, logger }),
      policy: policy ?? AUTHENTICATED_ONLY,
      failures,
    });
  } else {
    const token = await createTokenAuth(config, auth.token as TokenConfig, policy, failures, options, addressOf);
    controller = token.controller;
    tokenEndpoint = token.endpoint;
  }
  const tokenPath = `${options.prefix}auth/token`;
  const configuredOrigin = config.http.host === undefined ? undefined : new URL(config.http.host).origin;
  return {
    async authorize(req, route, query) {
      const method = req.method ?? 'GET';
      const grant = await controller.authorize(
        {
          authorization: req.headers.authorization,
          remoteAddress: addressOf(req),
          origin: configuredOrigin ?? requestOrigin(req),
        },
        wantedAccess(route, method),
      );
      if (route.kind === 'upload-start' && query.has('mount')) {
        const from = query.get('from');
        // A mount without `from` would search every repository: under access control that could
        // hand out blobs of repositories the caller cannot pull.
        if (
          from === null ||
          !isRepositoryName(from) ||
          !grant.allows({ type: 'repository', name: from, action: 'pull' })
        ) {
          query.delete('mount');
          query.delete('from');
        }
      }
      return grant;
    },
    endpoint: (pathname) => (pathname === tokenPath ? tokenEndpoint : undefined),
  };
}
