import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertError, rawRequest } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('base endpoint and routing', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  test('GET /v2/ answers 200 {} with the API version header', async () => {
    const res = await fetch(`${server.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.deepEqual(await res.json(), {});
  });

  test('HEAD /v2/ answers 200 without a body', async () => {
    const res = await rawRequest(`${server.url}/v2/`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
    assert.equal(res.headers['content-length'], '2');
    assert.equal(res.body.length, 0);
  });

  test('/v2 without the trailing slash is the base endpoint too', async () => {
    const res = await fetch(`${server.url}/v2`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});
  });

  test('GET / is a health check answering 200', async () => {
    const res = await fetch(`${server.url}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
    assert.equal(res.headers.get('docker-distribution-api-version'), null);
  });

  test('an unknown route under /v2/ answers 404 NOT_FOUND JSON with the API version header', async () => {
    for (const path of [
      '/v2/foo',
      '/v2/foo/bar',
      '/v2/foo/tags',
      '/v2/foo/blobs',
      '/v2/_catalog/x',
      '/v2/foo/tags/all',
    ]) {
      await assertError(await fetch(`${server.url}${path}`), 404, 'NOT_FOUND');
    }
  });

  test('a path outside /v2/ answers a plain 404', async () => {
    const res = await fetch(`${server.url}/v1/_ping`);
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('docker-distribution-api-version'), null);
    assert.equal(await res.text(), '404 page not found\n');
  });

  test('a wrong method on a known route answers 405 UNSUPPORTED with Allow', async () => {
    const cases: Array<[string, string, string]> = [
      ['POST', '/v2/', 'GET, HEAD'],
      ['DELETE', '/v2/_catalog', 'GET, HEAD'],
      ['PUT', '/v2/foo/tags/list', 'GET, HEAD'],
      ['PATCH', '/v2/foo/manifests/latest', 'GET, HEAD, PUT, DELETE'],
      ['POST', '/v2/foo/blobs/sha256:' + 'a'.repeat(64), 'GET, HEAD, DELETE'],
      ['GET', '/v2/foo/blobs/uploads/', 'POST'],
      ['POST', '/v2/foo/referrers/sha256:' + 'a'.repeat(64), 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await fetch(`${server.url}${path}`, { method });
      assert.equal(res.headers.get('allow'), allow, `${method} ${path}`);
      await assertError(res, 405, 'UNSUPPORTED');
    }
  });

  test('HEAD of an error answers the status and headers without a body', async () => {
    const res = await rawRequest(`${server.url}/v2/foo/manifests/latest`, { method: 'HEAD' });
    assert.equal(res.status, 404);
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.body.length, 0);
  });

  test('identifiers are validated: invalid digest, tag and upload id', async () => {
    await assertError(await fetch(`${server.url}/v2/foo/blobs/sha256:abc`), 400, 'DIGEST_INVALID');
    await assertError(await fetch(`${server.url}/v2/foo/blobs/md5:${'a'.repeat(32)}`), 400, 'DIGEST_INVALID');
    await assertError(await fetch(`${server.url}/v2/foo/manifests/sha256:XYZ`), 400, 'DIGEST_INVALID');
    await assertError(await fetch(`${server.url}/v2/foo/referrers/latest`), 400, 'DIGEST_INVALID');
    await assertError(await fetch(`${server.url}/v2/foo/manifests/-bad`), 400, 'TAG_INVALID');
    await assertError(await fetch(`${server.url}/v2/foo/manifests/${'t'.repeat(129)}`), 400, 'TAG_INVALID');
    await assertError(await fetch(`${server.url}/v2/foo/blobs/uploads/a%20b`), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('a percent-encoded digest in the path is decoded', async () => {
    const digest = `sha256:${'b'.repeat(64)}`;
    const res = await fetch(`${server.url}/v2/foo/blobs/${encodeURIComponent(digest)}`);
    await assertError(res, 404, 'BLOB_UNKNOWN');
  });
});
