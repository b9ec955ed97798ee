import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertError, rawRequest, sha256 } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** Every file (not directory) below `dir`, or [] when it does not exist. */
async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => !e.isDirectory()).map((e) => join(e.parentPath ?? e.path, e.name));
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('hostile repository names', () => {
  let server: TestServer;
  const escapeName = `berth-escapeName-${randomBytes(6).toString('hex')}`;
  before(async () => {
    server = await startTestServer({ storage: { delete: { enabled: true } } });
  });
  after(() => server.close());

  const names = [
    `../${escapeName}`,
    `../../../../${escapeName}`,
    `a/../../${escapeName}`,
    `%2e%2e/${escapeName}`,
    `..%2f${escapeName}`,
    'a//b',
    'a/./b',
    '/leading',
    'UPPER',
    'Upper/case',
    'a'.repeat(256),
    `${'a'.repeat(128)}/${'b'.repeat(127)}`,
    'trailing-',
    '-leading',
    'sp ace',
    'a%00b',
  ];
  const blobDigest = sha256('x');

  test('every route rejects them with 400 NAME_INVALID', async () => {
    for (const name of names) {
      const encoded = name.replace(/ /g, '%20');
      const requests: Array<[string, string]> = [
        ['GET', `/v2/${encoded}/tags/list`],
        ['GET', `/v2/${encoded}/manifests/latest`],
        ['PUT', `/v2/${encoded}/manifests/latest`],
        ['DELETE', `/v2/${encoded}/manifests/${blobDigest}`],
        ['GET', `/v2/${encoded}/blobs/${blobDigest}`],
        ['DELETE', `/v2/${encoded}/blobs/${blobDigest}`],
        ['POST', `/v2/${encoded}/blobs/uploads/`],
        ['POST', `/v2/${encoded}/blobs/uploads/?digest=${blobDigest}`],
        ['PATCH', `/v2/${encoded}/blobs/uploads/some-id`],
        ['GET', `/v2/${encoded}/referrers/${blobDigest}`],
      ];
      for (const [method, path] of requests) {
        const res = await rawRequest(`${server.url}${path}`, {
          method,
          headers: { 'Content-Type': 'application/octet-stream' },
          body: method === 'GET' || method === 'DELETE' ? undefined : Buffer.from('x'),
        });
        assert.equal(res.status, 400, `${method} ${path}: ${res.body.toString()}`);
        assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
        const body = JSON.parse(res.body.toString()) as { errors: Array<{ code: string }> };
        assert.equal(body.errors[0]?.code, 'NAME_INVALID', `${method} ${path}`);
      }
    }
  });

  test('nothing was written inside or outside the storage root', async () => {
    assert.deepEqual(await filesBelow(server.rootDir), []);
    // Any escapeName would land next to some ancestor of the repositories directory.
    let dir = join(server.registryRoot, 'repositories');
    for (;;) {
      assert.equal(await exists(join(dir, escapeName)), false, `found ${join(dir, escapeName)}`);
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  });

  test('a 255-character name is accepted (the limit is inclusive)', async () => {
    const name = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    assert.equal(name.length, 255);
    await assertError(await fetch(`${server.url}/v2/${name}/tags/list`), 404, 'NAME_UNKNOWN');
  });
});
