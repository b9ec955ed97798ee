/**
 * `auth.token` with the built-in token server, driven by hand the way the docker client drives
 * it: challenge → `/auth/token` → retry with the Bearer token; the OAuth2 POST form with password
 * and refresh-token grants; insufficient scopes; anonymous tokens; the catalog; and every kind of
 * bad token (garbage, tampered, alg=none, expired, not yet valid, wrong audience or issuer,
 * unknown key, a refresh token used as an access token).
 */
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { libtrustKeyId } from '../../src/auth/keys.js';
import { parseConfig } from '../../src/config/load.js';
import { renderConfig } from '../../src/config/redact.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  basic,
  capturingLogger,
  errorCode,
  eventually,
  expectStatus,
  parseChallenge,
  pushWith,
  tempDir,
  writeHtpasswd,
} from './support.js';

const SERVICE = 'berth-test';
const ISSUER = 'berth-test-issuer';

interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
  scope?: string;
}

describe('auth.token with the built-in token server', () => {
  let server: TestServer;
  let work: { dir: string; cleanup(): Promise<void> };
  let htpasswd: string;
  let log: ReturnType<typeof capturingLogger>;
  let signingKey: KeyObject;

  before(async () => {
    work = await tempDir('berth-token-');
    htpasswd = join(work.dir, 'htpasswd');
    await writeHtpasswd(htpasswd, { alice: 'a-pw', bob: 'b-pw' });
    log = capturingLogger();
    server = await startTestServer(
      {
        auth: {
          token: {
            // autoredirect: the realm follows the address the client used (the port is random here).
            realm: 'https://unused.invalid/auth/token',
            autoredirect: true,
            service: SERVICE,
            issuer: ISSUER,
            server: { htpasswd: { path: htpasswd } },
          },
        },
        access: {
          rules: [
            { repositories: ['public/**'], actions: ['pull'], anonymous: true },
            { repositories: ['**'], actions: ['*'], users: ['alice'] },
            { repositories: ['apps/**'], actions: ['pull'], users: ['bob'] },
          ],
        },
      },
      { logger: log.logger },
    );
    const pem = await readFile(join(server.rootDir, 'berth', 'token-key.pem'), 'utf8');
    signingKey = createPrivateKey(pem);
  });
  after(async () => {
    await server.close();
    await work.cleanup();
  });

  const realm = () => `${server.url}/auth/token`;

  async function getToken(scopes: string[], auth?: string, extra = ''): Promise<TokenResponse> {
    const query = new URLSearchParams({ service: SERVICE });
    for (const s of scopes) query.append('scope', s);
    const res = await fetch(
      `${realm()}?${query}${extra}`,
      auth === undefined ? {} : { headers: { Authorization: auth } },
    );
    return (await expectStatus(res, 200, `token for ${scopes.join(' ')}`)) as TokenResponse;
  }

  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  test('docker flow: challenge, token endpoint, retry with the Bearer token', async () => {
    const ping = await fetch(`${server.url}/v2/`);
    await expectStatus(ping, 401, 'ping');
    const challenge = parseChallenge(ping.headers.get('www-authenticate'));
    assert.equal(challenge.scheme, 'Bearer');
    assert.deepEqual(challenge.params, { realm: realm(), service: SERVICE });

    const attempt = await pushWith(server.url, 'apps/web', 'v1', undefined);
    await expectStatus(attempt, 401, 'push without a token');
    const pushChallenge = parseChallenge(attempt.headers.get('www-authenticate'));
    assert.equal(pushChallenge.params['scope'], 'repository:apps/web:pull,push');

    const issued = await getToken([pushChallenge.params['scope'] as string], basic('alice', 'a-pw'));
    assert.equal(issued.token, issued.access_token);
    assert.equal(issued.expires_in, 300);
    assert.ok(Math.abs(Date.parse(issued.issued_at) - Date.now()) < 60_000);
    const claims = decodeJwt(issued.token);
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.aud, SERVICE);
    assert.equal(claims.sub, 'alice');
    assert.deepEqual(claims['access'], [{ type: 'repository', name: 'apps/web', actions: ['pull', 'push'] }]);
    const header = decodeProtectedHeader(issued.token);
    assert.equal(header.alg, 'ES256');
    assert.match(header.kid ?? '', /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);

    await expectStatus(await pushWith(server.url, 'apps/web', 'v1', `Bearer ${issued.token}`), 201, 'push with token');
    const pull = await fetch(`${server.url}/v2/apps/web/manifests/v1`, { headers: bearer(issued.token) });
    await expectStatus(pull, 200, 'pull with token');
  });

  test('a token lacking the scope gets 401 insufficient_scope with DENIED', async () => {
    // bob asks for push but the rules give him pull only: the token says so, the registry refuses.
    const issued = await getToken(['repository:apps/web:pull,push'], basic('bob', 'b-pw'));
    assert.deepEqual(decodeJwt(issued.token)['access'], [{ type: 'repository', name: 'apps/web', actions: ['pull'] }]);
    await expectStatus(
      await fetch(`${server.url}/v2/apps/web/manifests/v1`, { headers: bearer(issued.token) }),
      200,
      'bob pulls',
    );
    const push = await pushWith(server.url, 'apps/web', 'v2', `Bearer ${issued.token}`);
    assert.equal(errorCode(await expectStatus(push, 401, 'bob pushes')), 'DENIED');
    const challenge = parseChallenge(push.headers.get('www-authenticate'));
    assert.equal(challenge.params['error'], 'insufficient_scope');
    assert.equal(challenge.params['scope'], 'repository:apps/web:pull,push');
    const other = await fetch(`${server.url}/v2/apps/other/tags/list`, { headers: bearer(issued.token) });
    await expectStatus(other, 401, 'a token for another repository');
  });

  test('anonymous tokens carry what anonymous rules allow', async () => {
    await expectStatus(await pushWith(server.url, 'public/base', 'v1', basic('x', 'y')), 401, 'basic is not a token');
    const admin = await getToken(['repository:public/base:push,pull'], basic('alice', 'a-pw'));
    await expectStatus(await pushWith(server.url, 'public/base', 'v1', `Bearer ${admin.token}`), 201, 'alice pushes');
    const anonymous = await getToken(['repository:public/base:pull,push', 'repository:apps/web:pull']);
    const claims = decodeJwt(anonymous.token);
    assert.equal(claims.sub, '');
    assert.deepEqual(claims['access'], [{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
    assert.equal(anonymous.refresh_token, undefined);
    const pull = await fetch(`${server.url}/v2/public/base/manifests/v1`, { headers: bearer(anonymous.token) });
    await expectStatus(pull, 200, 'anonymous pull');
    const denied = await fetch(`${server.url}/v2/apps/web/manifests/v1`, { headers: bearer(anonymous.token) });
    await expectStatus(denied, 401, 'anonymous pull of a private repository');
  });

  test('the token endpoint refuses wrong credentials with a Basic challenge and logs the attempt', async () => {
    const res = await fetch(`${realm()}?service=${SERVICE}&scope=repository:apps/web:pull`, {
      headers: { Authorization: basic('alice', 'not-her-password') },
    });
    const body = (await expectStatus(res, 401, 'wrong password')) as { errors: Array<{ code: string }> };
    assert.equal(body.errors[0]?.code, 'UNAUTHORIZED');
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const failure = log.lines.find((l) => l['msg'] === 'authentication failed' && l['user'] === 'alice');
    assert.ok(failure);
    assert.ok(!log.text().includes('not-her-password'));
    const wrongService = await fetch(`${realm()}?service=elsewhere`);
    await expectStatus(wrongService, 400, 'another service');
    await expectStatus(await fetch(realm(), { method: 'PUT' }), 405, 'PUT');
  });

  test('catalog tokens list what the subject may pull', async () => {
    const bob = await getToken(['registry:catalog:*'], basic('bob', 'b-pw'));
    assert.deepEqual(decodeJwt(bob.token)['access'], [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    const res = await fetch(`${server.url}/v2/_catalog`, { headers: bearer(bob.token) });
    assert.deepEqual(await expectStatus(res, 200, 'bob catalog'), { repositories: ['apps/web', 'public/base'] });
    const noCatalog = await getToken(['repository:apps/web:pull'], basic('bob', 'b-pw'));
    const refused = await fetch(`${server.url}/v2/_catalog`, { headers: bearer(noCatalog.token) });
    await expectStatus(refused, 401, 'catalog without the catalog scope');
    assert.equal(parseChallenge(refused.headers.get('www-authenticate')).params['scope'], 'registry:catalog:*');
  });

  test('OAuth2 POST: password grant with a refresh token, then the refresh grant', async () => {
    const form = (fields: Record<string, string>) =>
      fetch(realm(), {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields),
      });
    const login = (await expectStatus(
      await form({
        grant_type: 'password',
        username: 'alice',
        password: 'a-pw',
        service: SERVICE,
        client_id: 'docker',
        access_type: 'offline',
        scope: 'repository:apps/web:pull',
      }),
      200,
      'password grant',
    )) as TokenResponse;
    assert.ok(login.refresh_token);
    assert.equal(login.scope, 'repository:apps/web:pull');
    const pull = await fetch(`${server.url}/v2/apps/web/manifests/v1`, { headers: bearer(login.access_token) });
    await expectStatus(pull, 200, 'pull with the POST token');

    const refreshed = (await expectStatus(
      await form({
        grant_type: 'refresh_token',
        refresh_token: login.refresh_token,
        service: SERVICE,
        client_id: 'docker',
        scope: 'repository:apps/web:pull,push',
      }),
      200,
      'refresh grant',
    )) as TokenResponse;
    assert.deepEqual(decodeJwt(refreshed.access_token)['access'], [
      { type: 'repository', name: 'apps/web', actions: ['pull', 'push'] },
    ]);
    assert.equal(decodeJwt(refreshed.access_token).sub, 'alice');

    // A refresh token is not an access token.
    const misuse = await fetch(`${server.url}/v2/apps/web/manifests/v1`, { headers: bearer(login.refresh_token) });
    await expectStatus(misuse, 401, 'refresh token at the registry');

    const bad = await form({ grant_type: 'password', username: 'alice', password: 'nope', service: SERVICE });
    assert.equal(((await expectStatus(bad, 401, 'bad password grant')) as { error: string }).error, 'invalid_grant');
    const unknownGrant = await form({ grant_type: 'client_credentials', service: SERVICE });
    await expectStatus(unknownGrant, 400, 'unsupported grant');
    const notForm = await fetch(realm(), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    await expectStatus(notForm, 400, 'JSON body');

    // GET with offline_token=true (docker login) also hands out a refresh token.
    const offline = await getToken([], basic('alice', 'a-pw'), '&offline_token=true&client_id=docker');
    assert.ok(offline.refresh_token);

    // A new password voids refresh tokens made under the old one.
    await writeHtpasswd(htpasswd, { alice: 'new-pw', bob: 'b-pw' });
    await eventually(async () => {
      const res = await form({
        grant_type: 'refresh_token',
        refresh_token: login.refresh_token ?? '',
        service: SERVICE,
      });
      await res.arrayBuffer();
      return res.status === 400;
    }, 10_000);
    await writeHtpasswd(htpasswd, { alice: 'a-pw', bob: 'b-pw' });
    await eventually(async () => {
      const res = await fetch(`${realm()}?service=${SERVICE}`, { headers: { Authorization: basic('alice', 'a-pw') } });
      await res.arrayBuffer();
      return res.status === 200;
    }, 10_000);
  });

  describe('bad tokens are refused with invalid_token', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const access = [{ type: 'repository', name: 'apps/web', actions: ['pull'] }];

    async function sign(
      overrides: { iss?: string; aud?: string; exp?: number; nbf?: number; key?: KeyObject; kid?: string } = {},
    ): Promise<string> {
      const key = overrides.key ?? signingKey;
      return new SignJWT({ access })
        .setProtectedHeader({ alg: 'ES256', kid: overrides.kid ?? libtrustKeyId(key) })
        .setIssuer(overrides.iss ?? ISSUER)
        .setAudience(overrides.aud ?? SERVICE)
        .setSubject('alice')
        .setIssuedAt()
        .setNotBefore(overrides.nbf ?? now() - 10)
        .setExpirationTime(overrides.exp ?? now() + 300)
        .sign(key);
    }

    /** Asserts the 401 invalid_token answer, and that the logged reason is the expected one. */
    async function expectInvalid(token: string, what: string, reason: RegExp): Promise<void> {
      const before = log.lines.length;
      const res = await fetch(`${server.url}/v2/apps/web/manifests/v1`, { headers: bearer(token) });
      assert.equal(errorCode(await expectStatus(res, 401, what)), 'UNAUTHORIZED', what);
      const challenge = parseChallenge(res.headers.get('www-authenticate'));
      assert.equal(challenge.params['error'], 'invalid_token', what);
      assert.equal(challenge.params['scope'], 'repository:apps/web:pull', what);
      const logged = log.lines.slice(before).map((l) => String(l['reason']));
      assert.ok(
        logged.some((r) => reason.test(r)),
        `${what}: logged ${JSON.stringify(logged)}`,
      );
    }

    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

    test('a token signed by the server key is accepted (the control case)', async () => {
      const res = await fetch(`${server.url}/v2/apps/web/manifests/v1`, { headers: bearer(await sign()) });
      await expectStatus(res, 200, 'good token');
    });

    test('garbage and malformed tokens', async () => {
      await expectInvalid('not-a-jwt', 'garbage', /Invalid Compact JWS/);
      await expectInvalid('a.b.c', 'three garbage parts', /Protected Header is invalid/);
    });

    test('expired, not yet valid, wrong audience, wrong issuer', async () => {
      await expectInvalid(
        await sign({ exp: now() - 3600, nbf: now() - 7200 }),
        'expired',
        /"exp" claim timestamp check failed/,
      );
      await expectInvalid(
        await sign({ nbf: now() + 3600, exp: now() + 7200 }),
        'not yet valid',
        /"nbf" claim timestamp check failed/,
      );
      await expectInvalid(await sign({ aud: 'another-service' }), 'wrong audience', /unexpected "aud"/);
      await expectInvalid(await sign({ iss: 'someone-else' }), 'wrong issuer', /unexpected "iss"/);
      // Within the 60 s leeway an expiry is tolerated, as in distribution.
      const leeway = await sign({ exp: now() - 20 });
      await expectStatus(
        await fetch(`${server.url}/v2/apps/web/manifests/v1`, { headers: bearer(leeway) }),
        200,
        'within leeway',
      );
    });

    test('a tampered payload, alg=none, and a key the registry does not trust', async () => {
      const good = await sign();
      const [header, , signature] = good.split('.');
      const tampered = `${header}.${b64({ ...decodeJwt(good), access: [{ type: 'repository', name: 'apps/web', actions: ['pull', 'push', 'delete'] }] })}.${signature}`;
      await expectInvalid(tampered, 'tampered', /signature verification failed/);
      const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(decodeJwt(good))}.`;
      await expectInvalid(none, 'alg=none', /"alg" .* not allowed/);
      const noneSigned = `${b64({ alg: 'none', kid: decodeProtectedHeader(good).kid })}.${b64(decodeJwt(good))}.${signature}`;
      await expectInvalid(noneSigned, 'alg=none with a kid and a signature', /"alg" .* not allowed/);
      const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      await expectInvalid(await sign({ key: stranger }), 'unknown key', /unknown signing key/);
      await expectInvalid(
        await sign({ key: stranger, kid: libtrustKeyId(signingKey) }),
        'trusted kid, wrong key',
        /signature verification failed/,
      );
      const noKid = await new SignJWT({ access })
        .setProtectedHeader({ alg: 'ES256' })
        .setIssuer(ISSUER)
        .setAudience(SERVICE)
        .setExpirationTime('5m')
        .sign(signingKey);
      await expectInvalid(noKid, 'no kid', /names no key/);
      const noExp = await new SignJWT({ access })
        .setProtectedHeader({ alg: 'ES256', kid: libtrustKeyId(signingKey) })
        .setIssuer(ISSUER)
        .setAudience(SERVICE)
        .sign(signingKey);
      await expectInvalid(noExp, 'no exp', /missing required "exp"/);
    });
  });
});

describe('auth.token configuration', () => {
  test('REGISTRY_AUTH_TOKEN_* variables configure it, and config check shows paths unredacted', () => {
    const { config, warnings } = parseConfig('version: 0.1\nstorage: inmemory\n', {
      env: {
        REGISTRY_AUTH: 'token',
        REGISTRY_AUTH_TOKEN_REALM: 'https://registry.example.com/auth/token',
        REGISTRY_AUTH_TOKEN_SERVICE: 'registry.example.com',
        REGISTRY_AUTH_TOKEN_ISSUER: 'berth',
        REGISTRY_AUTH_TOKEN_SERVER_HTPASSWD_PATH: '/etc/berth/htpasswd',
        REGISTRY_AUTH_TOKEN_SERVER_EXPIRATION: '15m',
      },
    });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.auth?.token?.server, {
      htpasswd: { path: '/etc/berth/htpasswd' },
      expiration: 900_000,
      refreshexpiration: 720 * 3_600_000,
    });
    const shown = renderConfig(config);
    assert.match(shown, /path: \/etc\/berth\/htpasswd/);
    assert.match(shown, /expiration: 15m0s/);
  });

  test('without a bundle, a JWKS or the built-in server the registry refuses to start', async () => {
    await assert.rejects(
      startTestServer({ auth: { token: { realm: 'https://a/token', service: 's', issuer: 'i' } } }),
      /auth\.token needs rootcertbundle or jwks/,
    );
  });
  test('under http.prefix the token endpoint and the auto-redirect realm move with it', async () => {
    const work = await tempDir('berth-token-prefix-');
    const htpasswd = join(work.dir, 'htpasswd');
    await writeHtpasswd(htpasswd, { a: 'b' });
    const server = await startTestServer({
      http: { prefix: '/reg' },
      auth: {
        token: {
          realm: 'https://unused.invalid/token',
          autoredirect: true,
          service: 's',
          issuer: 'i',
          server: { htpasswd: { path: htpasswd } },
        },
      },
    });
    try {
      const ping = await fetch(`${server.url}/reg/v2/`);
      await expectStatus(ping, 401, 'ping');
      const { realm } = parseChallenge(ping.headers.get('www-authenticate')).params;
      assert.equal(realm, `${server.url}/reg/auth/token`);
      const issued = await fetch(`${realm}?service=s`, { headers: { Authorization: basic('a', 'b') } });
      const { token } = (await expectStatus(issued, 200, 'token under the prefix')) as TokenResponse;
      await expectStatus(
        await fetch(`${server.url}/reg/v2/`, { headers: { Authorization: `Bearer ${token}` } }),
        200,
        'v2',
      );
      const outside = await fetch(`${server.url}/auth/token?service=s`);
      await outside.arrayBuffer();
      assert.equal(outside.status, 404, 'outside the prefix');
    } finally {
      await server.close();
      await work.cleanup();
    }
  });

  test('unknown signing algorithms are refused', async () => {
    const work = await tempDir('berth-token-cfg-');
    try {
      const htpasswd = join(work.dir, 'htpasswd');
      await writeHtpasswd(htpasswd, { a: 'b' });
      const token = { realm: 'https://a/token', service: 's', issuer: 'i', server: { htpasswd: { path: htpasswd } } };
      await assert.rejects(
        startTestServer({ auth: { token: { ...token, signingalgorithms: ['HS256'] } } }),
        /unsupported algorithm "HS256"/,
      );
      await assert.rejects(
        startTestServer({ auth: { token: { ...token, signingalgorithms: ['RS256'] } } }),
        /does not include ES256/,
      );
    } finally {
      await work.cleanup();
    }
  });
});
