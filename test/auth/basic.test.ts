/**
 * `auth.htpasswd` over real HTTP: challenges, wrong credentials that never reveal whether the
 * user exists, authenticated pushes and pulls, the user in the access log, failed logins and
 * brute-force warnings in the log (never the password), and `auth.silly`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rawRequest } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  basic,
  capturingLogger,
  errorCode,
  expectStatus,
  type LogLine,
  parseChallenge,
  pushWith,
  tempDir,
  writeHtpasswd,
} from './support.js';

describe('auth.htpasswd', () => {
  let server: TestServer;
  let work: { dir: string; cleanup(): Promise<void> };
  let log: ReturnType<typeof capturingLogger>;

  before(async () => {
    work = await tempDir('berth-basic-');
    const path = join(work.dir, 'htpasswd');
    await writeHtpasswd(path, { alice: 'wonderland', bob: 'builder' });
    log = capturingLogger();
    server = await startTestServer(
      { auth: { htpasswd: { realm: 'Berth "test" realm', path } }, log: { accesslog: { disabled: false } } },
      { logger: log.logger },
    );
  });
  after(async () => {
    await server.close();
    await work.cleanup();
  });

  test('GET /v2/ without credentials: 401 UNAUTHORIZED with a Basic challenge', async () => {
    const res = await fetch(`${server.url}/v2/`);
    const body = await expectStatus(res, 401, 'anonymous /v2/');
    assert.equal(errorCode(body), 'UNAUTHORIZED');
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="Berth \\"test\\" realm"');
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    const head = await rawRequest(`${server.url}/v2/alice/app/manifests/latest`, { method: 'HEAD' });
    assert.equal(head.status, 401);
    assert.equal(head.body.length, 0);
    assert.match(String(head.headers['www-authenticate']), /^Basic realm=/);
  });

  test('wrong password and unknown user get the same answer', async () => {
    const answers = [];
    for (const auth of [basic('alice', 'nope'), basic('mallory', 'nope'), 'Basic !!!', 'Bearer abc']) {
      const res = await fetch(`${server.url}/v2/`, { headers: { Authorization: auth } });
      const body = (await expectStatus(res, 401, auth)) as { errors: Array<{ code: string }> };
      answers.push([res.headers.get('www-authenticate'), body.errors[0]?.code]);
    }
    assert.deepEqual(answers[0], answers[1]);
    assert.deepEqual(answers[0], ['Basic realm="Berth \\"test\\" realm"', 'UNAUTHORIZED']);
    assert.equal(answers[2]?.[1], 'UNAUTHORIZED');
  });

  test('authenticated users push and pull; without access rules every user may do everything', async () => {
    const alice = basic('alice', 'wonderland');
    const res = await fetch(`${server.url}/v2/`, { headers: { Authorization: alice } });
    await expectStatus(res, 200, 'alice /v2/');
    await expectStatus(await pushWith(server.url, 'shared/app', 'v1', alice), 201, 'alice push');
    await expectStatus(await pushWith(server.url, 'shared/app', 'v2', basic('bob', 'builder')), 201, 'bob push');
    const anonymousPush = await pushWith(server.url, 'shared/app', 'v3', undefined);
    assert.equal(errorCode(await expectStatus(anonymousPush, 401, 'anonymous push')), 'UNAUTHORIZED');
    const tags = await fetch(`${server.url}/v2/shared/app/tags/list`, { headers: { Authorization: alice } });
    assert.deepEqual(await expectStatus(tags, 200, 'tags'), { name: 'shared/app', tags: ['v1', 'v2'] });
    const catalog = await fetch(`${server.url}/v2/_catalog`, { headers: { Authorization: basic('bob', 'builder') } });
    assert.deepEqual(await expectStatus(catalog, 200, 'catalog'), { repositories: ['shared/app'] });
  });

  test('the access log names the user; failed logins are logged with user and address, never the password', async () => {
    await fetch(`${server.url}/v2/`, { headers: { Authorization: basic('alice', 'wonderland') } }).then((r) =>
      r.arrayBuffer(),
    );
    await fetch(`${server.url}/v2/`, { headers: { Authorization: basic('alice', 'guess-123') } }).then((r) =>
      r.arrayBuffer(),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const requests = log.lines.filter((l) => l['msg'] === 'request' && l['path'] === '/v2/');
    assert.ok(requests.some((l) => l['user'] === 'alice' && l['status'] === 200));
    assert.ok(requests.some((l) => l['user'] === undefined && l['status'] === 401));
    const failure = log.lines.find((l) => l['msg'] === 'authentication failed' && l['user'] === 'alice');
    assert.ok(failure, 'a failed login is logged');
    assert.equal(failure['remoteAddr'], '127.0.0.1');
    assert.ok(!log.text().includes('guess-123'), 'the password never reaches the log');
    assert.ok(!log.text().includes('wonderland'), 'the password never reaches the log');
  });

  test('repeated failures from one address raise a brute-force warning', async () => {
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${server.url}/v2/`, { headers: { Authorization: basic(`user${i}`, `pw-${i}`) } });
      await res.arrayBuffer();
    }
    const warning = log.lines.find((l: LogLine) => String(l['msg']).includes('possible brute-force attempt'));
    assert.ok(warning, 'a brute-force warning');
    assert.equal(warning['remoteAddr'], '127.0.0.1');
    assert.ok((warning['failures'] as number) >= 10);
    assert.equal(warning['level'], 40);
  });
});

describe('auth.silly', () => {
  test('any Authorization header passes; none gets a Bearer challenge with the scope', async () => {
    const server = await startTestServer({
      auth: { silly: { realm: 'https://auth.example/token', service: 'berth' } },
    });
    try {
      const res = await fetch(`${server.url}/v2/some/repo/tags/list`);
      await expectStatus(res, 401, 'anonymous');
      assert.equal(
        res.headers.get('www-authenticate'),
        'Bearer realm="https://auth.example/token",service="berth",scope="repository:some/repo:pull"',
      );
      const base = await fetch(`${server.url}/v2/`);
      await expectStatus(base, 401, 'anonymous /v2/');
      assert.deepEqual(parseChallenge(base.headers.get('www-authenticate')).params, {
        realm: 'https://auth.example/token',
        service: 'berth',
      });
      await expectStatus(await pushWith(server.url, 'some/repo', 'x', 'Bearer whatever'), 201, 'silly push');
      const catalog = await fetch(`${server.url}/v2/_catalog`, { headers: { Authorization: 'anything' } });
      assert.deepEqual(await expectStatus(catalog, 200, 'catalog'), { repositories: ['some/repo'] });
    } finally {
      await server.close();
    }
  });
});
