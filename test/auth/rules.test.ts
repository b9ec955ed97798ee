/**
 * Access rules (`access:`) with plain htpasswd Basic auth: anonymous pull with authenticated push,
 * per-user and per-group repository rules, `${user}` namespaces, delete rights, 401 vs 403,
 * a catalog showing only what the caller may pull, mounts from repositories the caller cannot
 * read, and the configuration errors an operator can make.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compileAccessPolicy } from '../../src/auth/rules.js';
import { parseConfig } from '../../src/config/load.js';
import { sha256 } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { basic, errorCode, expectStatus, pushWith, tempDir, writeHtpasswd } from './support.js';

describe('access policy', () => {
  const policy = compileAccessPolicy({
    groups: { ci: ['robot', 'builder'] },
    rules: [
      { repositories: ['public/**'], actions: ['pull'], anonymous: true },
      { repositories: ['**'], actions: ['pull'], users: ['*'] },
      { repositories: ['apps/*'], actions: ['push'], groups: ['ci'] },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the placeholder as operators write it.
      { repositories: ['${user}/**'], actions: ['*'], users: ['*'] },
      { repositories: ['team-?/x'], actions: ['delete'], users: ['admin'] },
    ],
  });
  const actions = (user: string | undefined, repo: string) => [...policy.repositoryActions(user, repo)].sort();

  test('globs: * stays within a component, ** crosses them, ? is one character', () => {
    assert.deepEqual(actions(undefined, 'public/a/b'), ['pull']);
    assert.deepEqual(actions(undefined, 'public'), []);
    assert.deepEqual(actions(undefined, 'private/a'), []);
    assert.deepEqual(actions('robot', 'apps/web'), ['pull', 'push']);
    assert.deepEqual(actions('robot', 'apps/web/x'), ['pull']);
    assert.deepEqual(actions('admin', 'team-a/x'), ['delete', 'pull']);
    assert.deepEqual(actions('admin', 'team-ab/x'), ['pull']);
  });

  test('the user placeholder gives each user a namespace and never matches anonymous callers', () => {
    assert.deepEqual(actions('alice', 'alice/tools'), ['delete', 'pull', 'push']);
    assert.deepEqual(actions('alice', 'bob/tools'), ['pull']);
    assert.deepEqual(actions(undefined, 'alice/tools'), []);
    // Regular-expression characters in a user name are literal.
    assert.deepEqual(actions('a.b', 'axb/x'), ['pull']);
  });

  test('catalog: any authenticated user; anonymous only when an anonymous rule exists', () => {
    const catalog = { type: 'registry', name: 'catalog', action: '*' };
    assert.equal(policy.allows('anyone', catalog), true);
    assert.equal(policy.allows(undefined, catalog), true);
    const closed = compileAccessPolicy({ rules: [{ repositories: ['**'], actions: ['pull'], users: ['*'] }] });
    assert.equal(closed.allows(undefined, catalog), false);
    assert.equal(closed.allows('x', { type: 'repository', name: 'a', action: '*' }), false);
  });

  test('configuration mistakes are refused with the rule named', () => {
    assert.throws(
      () => compileAccessPolicy({ rules: [{ repositories: ['**'], actions: ['push'], anonymous: true }] }),
      /access\.rules\[0\]: an anonymous rule may only grant pull/,
    );
    assert.throws(
      () => compileAccessPolicy({ rules: [{ repositories: ['**'], actions: ['pull'], groups: ['nope'] }] }),
      /unknown group "nope"/,
    );
    assert.throws(() => compileAccessPolicy({ rules: [{ repositories: ['**'], actions: ['pull'] }] }), /names nobody/);
    const parsed = () =>
      parseConfig(
        'version: 0.1\nstorage: inmemory\naccess:\n  rules:\n    - repositories: ["**"]\n      actions: [fly]\n      users: ["*"]\n',
      );
    assert.throws(parsed, /access\.rules\[0\]\.actions\[0\]/);
  });

  test('REGISTRY_ACCESS_* environment variables set rules and groups', () => {
    const { config, warnings } = parseConfig('version: 0.1\nstorage: inmemory\n', {
      env: {
        REGISTRY_ACCESS_RULES: '[{repositories: ["public/**"], actions: [pull], anonymous: true}]',
        REGISTRY_ACCESS_GROUPS_CI: '[robot, builder]',
      },
    });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.access?.groups, { ci: ['robot', 'builder'] });
    assert.deepEqual(config.access?.rules, [{ repositories: ['public/**'], actions: ['pull'], anonymous: true }]);
  });
});

describe('access rules with htpasswd', () => {
  let server: TestServer;
  let work: { dir: string; cleanup(): Promise<void> };
  const alice = basic('alice', 'a-pw');
  const bob = basic('bob', 'b-pw');
  const robot = basic('robot', 'r-pw');

  before(async () => {
    work = await tempDir('berth-rules-');
    const path = join(work.dir, 'htpasswd');
    await writeHtpasswd(path, { alice: 'a-pw', bob: 'b-pw', robot: 'r-pw' });
    server = await startTestServer({
      storage: { delete: { enabled: true } },
      auth: { htpasswd: { realm: 'berth', path } },
      access: {
        groups: { ci: ['robot'] },
        rules: [
          { repositories: ['public/**'], actions: ['pull'], anonymous: true },
          { repositories: ['public/**', 'apps/**'], actions: ['pull', 'push'], groups: ['ci'] },
          { repositories: ['apps/**'], actions: ['pull'], users: ['bob'] },
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the placeholder as operators write it.
          { repositories: ['${user}/**'], actions: ['*'], users: ['*'] },
          { repositories: ['**'], actions: ['*'], users: ['alice'] },
        ],
      },
    });
    await expectStatus(await pushWith(server.url, 'public/base', 'v1', robot), 201, 'robot → public');
    await expectStatus(await pushWith(server.url, 'apps/web', 'v1', robot), 201, 'robot → apps');
    await expectStatus(await pushWith(server.url, 'secret/vault', 'v1', alice), 201, 'alice → secret');
    await expectStatus(await pushWith(server.url, 'bob/tool', 'v1', bob), 201, 'bob → own namespace');
  });
  after(async () => {
    await server.close();
    await work.cleanup();
  });

  test('anonymous callers pull public repositories and are challenged for everything else', async () => {
    await expectStatus(await fetch(`${server.url}/v2/public/base/manifests/v1`), 200, 'anonymous pull');
    // containers/image sends empty Basic credentials when it has none: that is anonymous too.
    const empty = await fetch(`${server.url}/v2/public/base/manifests/v1`, {
      headers: { Authorization: 'Basic Og==' },
    });
    await expectStatus(empty, 200, 'empty Basic credentials');
    const head = await fetch(`${server.url}/v2/public/base/manifests/v1`, { method: 'HEAD' });
    await expectStatus(head, 200, 'anonymous HEAD');
    const push = await pushWith(server.url, 'public/base', 'v2', undefined);
    assert.equal(errorCode(await expectStatus(push, 401, 'anonymous push')), 'UNAUTHORIZED');
    assert.equal(push.headers.get('www-authenticate'), 'Basic realm="berth"');
    const privatePull = await fetch(`${server.url}/v2/apps/web/manifests/v1`);
    assert.equal(errorCode(await expectStatus(privatePull, 401, 'anonymous private pull')), 'UNAUTHORIZED');
    // /v2/ still challenges, so clients learn the scheme before they need it.
    await expectStatus(await fetch(`${server.url}/v2/`), 401, 'anonymous /v2/');
  });

  test('an authenticated user lacking an action gets 403 DENIED, never a challenge', async () => {
    const push = await pushWith(server.url, 'apps/web', 'v2', bob);
    const body = await expectStatus(push, 403, 'bob push to apps');
    assert.equal(errorCode(body), 'DENIED');
    assert.equal(push.headers.get('www-authenticate'), null);
    await expectStatus(
      await fetch(`${server.url}/v2/apps/web/manifests/v1`, { headers: { Authorization: bob } }),
      200,
      'bob pull apps',
    );
    const secret = await fetch(`${server.url}/v2/secret/vault/tags/list`, { headers: { Authorization: bob } });
    assert.equal(errorCode(await expectStatus(secret, 403, 'bob pull secret')), 'DENIED');
    const other = await pushWith(server.url, 'alice/x', 'v1', bob);
    assert.equal(errorCode(await expectStatus(other, 403, "bob push to alice's namespace")), 'DENIED');
  });

  test('delete needs the delete action', async () => {
    const tag = await fetch(`${server.url}/v2/apps/web/manifests/v1`, {
      method: 'HEAD',
      headers: { Authorization: robot },
    });
    const digest = tag.headers.get('docker-content-digest');
    assert.ok(digest);
    const denied = await fetch(`${server.url}/v2/apps/web/manifests/${digest}`, {
      method: 'DELETE',
      headers: { Authorization: robot },
    });
    assert.equal(errorCode(await expectStatus(denied, 403, 'robot delete')), 'DENIED');
    const own = await fetch(`${server.url}/v2/bob/tool/manifests/v1`, {
      method: 'HEAD',
      headers: { Authorization: bob },
    });
    const ownDigest = own.headers.get('docker-content-digest');
    const deleted = await fetch(`${server.url}/v2/bob/tool/manifests/${ownDigest}`, {
      method: 'DELETE',
      headers: { Authorization: bob },
    });
    await expectStatus(deleted, 202, 'bob deletes in his namespace');
    // Cancelling one's own upload is part of pushing, not a delete.
    const start = await fetch(`${server.url}/v2/apps/web/blobs/uploads/`, {
      method: 'POST',
      headers: { Authorization: robot },
    });
    await expectStatus(start, 202, 'robot starts an upload');
    const location = new URL(start.headers.get('location') ?? '', server.url);
    const cancel = await fetch(location, { method: 'DELETE', headers: { Authorization: robot } });
    await expectStatus(cancel, 204, 'robot cancels its upload');
  });

  test('the catalog lists only repositories the caller may pull, pagination included', async () => {
    const list = async (auth: string | undefined, query = ''): Promise<unknown> => {
      const res = await fetch(
        `${server.url}/v2/_catalog${query}`,
        auth === undefined ? {} : { headers: { Authorization: auth } },
      );
      return expectStatus(res, 200, `catalog as ${auth}`);
    };
    assert.deepEqual(await list(undefined), { repositories: ['public/base'] });
    assert.deepEqual(await list(bob), { repositories: ['apps/web', 'bob/tool', 'public/base'] });
    assert.deepEqual(await list(robot), { repositories: ['apps/web', 'public/base'] });
    assert.deepEqual(await list(alice), { repositories: ['apps/web', 'bob/tool', 'public/base', 'secret/vault'] });
    const page = await fetch(`${server.url}/v2/_catalog?n=1&last=apps/web`, { headers: { Authorization: bob } });
    assert.deepEqual(await expectStatus(page, 200, 'paged'), { repositories: ['bob/tool'] });
    assert.match(page.headers.get('link') ?? '', /last=bob%2Ftool&n=1>; rel="next"/);
  });

  test('a mount from a repository the caller cannot pull falls back to a plain upload', async () => {
    const layer = Buffer.from('secret layer');
    const put = await fetch(`${server.url}/v2/secret/vault/blobs/uploads/?digest=${sha256(layer)}`, {
      method: 'POST',
      headers: { Authorization: alice },
      body: layer,
    });
    await expectStatus(put, 201, 'alice pushes a secret layer');
    const mount = (from: string, auth: string) =>
      fetch(`${server.url}/v2/robot/stolen/blobs/uploads/?mount=${sha256(layer)}&from=${from}`, {
        method: 'POST',
        headers: { Authorization: auth },
      });
    const refused = await mount('secret/vault', robot);
    await expectStatus(refused, 202, 'robot cannot mount from secret/vault');
    const noFrom = await fetch(`${server.url}/v2/robot/stolen/blobs/uploads/?mount=${sha256(layer)}`, {
      method: 'POST',
      headers: { Authorization: robot },
    });
    await expectStatus(noFrom, 202, 'a mount without from is never a search under access control');
    const blob = await fetch(`${server.url}/v2/robot/stolen/blobs/${sha256(layer)}`, {
      headers: { Authorization: robot },
    });
    await expectStatus(blob, 404, 'nothing was mounted');
    await expectStatus(await mount('secret/vault', alice), 201, 'alice may mount from secret/vault into her repos');
    const robotOwn = await fetch(`${server.url}/v2/robot/copy/blobs/uploads/?mount=${sha256('x')}&from=public/base`, {
      method: 'POST',
      headers: { Authorization: robot },
    });
    await expectStatus(robotOwn, 202, 'an unknown blob still falls back to an upload');
  });
});

describe('access configuration at start-up', () => {
  test('access rules without auth stop start-up', async () => {
    await assert.rejects(
      startTestServer({ access: { rules: [{ repositories: ['**'], actions: ['pull'], anonymous: true }] } }),
      /access rules need auth\.htpasswd or auth\.token/,
    );
  });
});
