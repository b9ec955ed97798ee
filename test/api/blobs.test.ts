import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { decorateRegistry } from '../helpers/decorators.js';
import { assertError, pushBlob, rawRequest, sha256 } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('blobs: GET/HEAD', () => {
  let server: TestServer;
  const bytes = randomBytes(1000);
  let digest: string;
  let url: string;
  before(async () => {
    server = await startTestServer();
    digest = await pushBlob(server.url, 'lib/blob', bytes);
    url = `${server.url}/v2/lib/blob/blobs/${digest}`;
  });
  after(() => server.close());

  test('GET serves the bytes with the blob headers', async () => {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(res.headers.get('content-length'), '1000');
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('etag'), `"${digest}"`);
    assert.equal(res.headers.get('accept-ranges'), 'bytes');
    assert.equal(res.headers.get('cache-control'), 'max-age=31536000');
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
  });

  test('HEAD answers the same headers without a body', async () => {
    const res = await rawRequest(url, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['docker-content-digest'], digest);
    assert.equal(res.headers['content-length'], '1000');
    assert.equal(res.headers['etag'], `"${digest}"`);
    assert.equal(res.body.length, 0);
  });

  test('If-None-Match with the digest answers 304; another tag answers 200', async () => {
    for (const value of [`"${digest}"`, `W/"${digest}"`, `"other", "${digest}"`, '*']) {
      const res = await fetch(url, { headers: { 'If-None-Match': value } });
      assert.equal(res.status, 304, value);
      assert.equal(res.headers.get('etag'), `"${digest}"`);
      assert.equal((await res.arrayBuffer()).byteLength, 0);
    }
    const res = await fetch(url, { headers: { 'If-None-Match': `"${sha256('other')}"` } });
    assert.equal(res.status, 200);
    assert.equal((await res.arrayBuffer()).byteLength, 1000);
  });

  test('single ranges answer 206 with Content-Range', async () => {
    const cases: Array<[string, number, number]> = [
      ['bytes=0-9', 0, 9],
      ['bytes=990-', 990, 999],
      ['bytes=-5', 995, 999],
      ['bytes=500-5000', 500, 999],
      ['bytes=-5000', 0, 999],
      ['bytes=999-999', 999, 999],
    ];
    for (const [range, start, end] of cases) {
      const res = await fetch(url, { headers: { Range: range } });
      assert.equal(res.status, 206, range);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/1000`, range);
      assert.equal(res.headers.get('content-length'), String(end - start + 1), range);
      assert.equal(res.headers.get('docker-content-digest'), digest);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes.subarray(start, end + 1), range);
    }
  });

  test('HEAD with a range answers 206 headers only', async () => {
    const res = await rawRequest(url, { method: 'HEAD', headers: { Range: 'bytes=10-19' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], 'bytes 10-19/1000');
    assert.equal(res.headers['content-length'], '10');
    assert.equal(res.body.length, 0);
  });

  test('an unsatisfiable range answers 416 with Content-Range bytes */size', async () => {
    for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
      const res = await fetch(url, { headers: { Range: range } });
      assert.equal(res.headers.get('content-range'), 'bytes */1000', range);
      await assertError(res, 416, 'RANGE_INVALID');
    }
  });

  test('multiple, malformed or foreign-unit ranges serve the whole blob', async () => {
    for (const range of ['bytes=0-1,5-6', 'bytes=abc', 'bytes=9-3', 'items=0-1', 'bytes=-']) {
      const res = await fetch(url, { headers: { Range: range } });
      assert.equal(res.status, 200, range);
      assert.equal(res.headers.get('content-range'), null);
      assert.equal((await res.arrayBuffer()).byteLength, 1000, range);
    }
  });

  test('an unknown blob answers 404 BLOB_UNKNOWN (GET and HEAD)', async () => {
    const missing = sha256('missing');
    await assertError(await fetch(`${server.url}/v2/lib/blob/blobs/${missing}`), 404, 'BLOB_UNKNOWN');
    const head = await rawRequest(`${server.url}/v2/lib/blob/blobs/${missing}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
    assert.equal(head.body.length, 0);
  });

  test('a blob is only visible in repositories it is linked into', async () => {
    await assertError(await fetch(`${server.url}/v2/lib/other/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });

  test('an empty blob is served with Content-Length 0', async () => {
    const empty = await pushBlob(server.url, 'lib/blob', Buffer.alloc(0));
    const res = await fetch(`${server.url}/v2/lib/blob/blobs/${empty}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '0');
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  test('a large blob streams intact', async () => {
    const big = randomBytes(6 * 1024 * 1024 + 7);
    const bigDigest = await pushBlob(server.url, 'lib/blob', big);
    const res = await fetch(`${server.url}/v2/lib/blob/blobs/${bigDigest}`);
    assert.equal(res.status, 200);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), bigDigest);
  });

  test('a client aborting mid-download leaves the server serving', async () => {
    const big = randomBytes(8 * 1024 * 1024);
    const bigDigest = await pushBlob(server.url, 'lib/blob', big);
    await new Promise<void>((resolve, reject) => {
      const req = request(`${server.url}/v2/lib/blob/blobs/${bigDigest}`, (res) => {
        assert.equal(res.statusCode, 200);
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ECONNRESET') reject(error);
      });
      req.end();
    });
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
  });
});

describe('blobs: DELETE', () => {
  test('answers 405 UNSUPPORTED when deletes are disabled and keeps the blob', async () => {
    const server = await startTestServer();
    try {
      const digest = await pushBlob(server.url, 'lib/del', 'keep me');
      const res = await fetch(`${server.url}/v2/lib/del/blobs/${digest}`, { method: 'DELETE' });
      await assertError(res, 405, 'UNSUPPORTED');
      assert.equal((await fetch(`${server.url}/v2/lib/del/blobs/${digest}`)).status, 200);
    } finally {
      await server.close();
    }
  });

  test('answers 202 with Docker-Content-Digest when enabled; the blob is then unknown', async () => {
    const server = await startTestServer({ storage: { delete: { enabled: true } } });
    try {
      const digest = await pushBlob(server.url, 'lib/del', 'delete me');
      const res = await fetch(`${server.url}/v2/lib/del/blobs/${digest}`, { method: 'DELETE' });
      assert.equal(res.status, 202);
      assert.equal(res.headers.get('docker-content-digest'), digest);
      assert.equal(res.headers.get('content-length'), '0');
      await assertError(await fetch(`${server.url}/v2/lib/del/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
      const again = await fetch(`${server.url}/v2/lib/del/blobs/${digest}`, { method: 'DELETE' });
      await assertError(again, 404, 'BLOB_UNKNOWN');
    } finally {
      await server.close();
    }
  });
});

describe('blobs: redirects', () => {
  const redirecting = { blobs: () => ({ redirectURL: async (d: string) => `https://cdn.example/blobs/${d}` }) };

  test('a backend redirect URL answers 307 for GET and HEAD', async () => {
    const server = await startTestServer({}, { wrapRegistry: (r) => decorateRegistry(r, redirecting) });
    try {
      const digest = await pushBlob(server.url, 'lib/redir', 'redirected');
      for (const method of ['GET', 'HEAD']) {
        const res = await fetch(`${server.url}/v2/lib/redir/blobs/${digest}`, { method, redirect: 'manual' });
        assert.equal(res.status, 307, method);
        assert.equal(res.headers.get('location'), `https://cdn.example/blobs/${digest}`);
        assert.equal(res.headers.get('docker-content-digest'), digest);
        await res.arrayBuffer();
      }
      // The blob must exist here first: no redirect for unknown blobs.
      await assertError(await fetch(`${server.url}/v2/lib/redir/blobs/${sha256('nope')}`), 404, 'BLOB_UNKNOWN');
    } finally {
      await server.close();
    }
  });

  test('storage.redirect.disable serves the bytes instead', async () => {
    const server = await startTestServer(
      { storage: { redirect: { disable: true } } },
      { wrapRegistry: (r) => decorateRegistry(r, redirecting) },
    );
    try {
      const digest = await pushBlob(server.url, 'lib/redir', 'served');
      const res = await fetch(`${server.url}/v2/lib/redir/blobs/${digest}`, { redirect: 'manual' });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'served');
    } finally {
      await server.close();
    }
  });
});
