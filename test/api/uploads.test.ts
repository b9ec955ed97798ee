import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { assertError, pushBlob, rawRequest, sha256, startUpload, withDigest } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('uploads', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ storage: { delete: { enabled: true } } });
  });
  after(() => server.close());

  const blobUrl = (name: string, digest: string) => `${server.url}/v2/${name}/blobs/${digest}`;

  test('POST starts a session: 202, Location, Range 0-0, Docker-Upload-UUID, Content-Length 0', async () => {
    const res = await fetch(`${server.url}/v2/up/one/blobs/uploads/`, { method: 'POST' });
    assert.equal(res.status, 202);
    const uuid = res.headers.get('docker-upload-uuid');
    assert.ok(uuid);
    const location = new URL(res.headers.get('location') ?? '');
    assert.equal(`${location.origin}${location.pathname}`, `${server.url}/v2/up/one/blobs/uploads/${uuid}`);
    assert.ok(location.searchParams.get('_state'), 'the Location carries the signed upload state');
    assert.equal(res.headers.get('range'), '0-0');
    assert.equal(res.headers.get('content-length'), '0');
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    await res.arrayBuffer();
  });

  test('POST without the trailing slash works too', async () => {
    const res = await fetch(`${server.url}/v2/up/one/blobs/uploads`, { method: 'POST' });
    assert.equal(res.status, 202);
    await res.arrayBuffer();
  });

  test('monolithic POST ?digest= stores the blob: 201, Location, Docker-Content-Digest', async () => {
    const bytes = randomBytes(4096);
    const digest = sha256(bytes);
    const res = await fetch(`${server.url}/v2/up/mono/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: bytes,
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), blobUrl('up/mono', digest));
    assert.equal(res.headers.get('docker-content-digest'), digest);
    await res.arrayBuffer();
    assert.deepEqual(Buffer.from(await (await fetch(blobUrl('up/mono', digest))).arrayBuffer()), bytes);
  });

  test('monolithic POST with a wrong digest answers 400 DIGEST_INVALID and stores nothing', async () => {
    const wrong = sha256('something else');
    const res = await fetch(`${server.url}/v2/up/mono/blobs/uploads/?digest=${wrong}`, {
      method: 'POST',
      body: 'actual content',
    });
    await assertError(res, 400, 'DIGEST_INVALID');
    await assertError(await fetch(blobUrl('up/mono', wrong)), 404, 'BLOB_UNKNOWN');
    await assertError(await fetch(blobUrl('up/mono', sha256('actual content'))), 404, 'BLOB_UNKNOWN');
  });

  test('monolithic POST with a malformed digest answers 400 DIGEST_INVALID', async () => {
    const res = await fetch(`${server.url}/v2/up/mono/blobs/uploads/?digest=sha256:nothex`, {
      method: 'POST',
      body: 'x',
    });
    await assertError(res, 400, 'DIGEST_INVALID');
  });

  test('chunked upload: PATCH with Content-Range, GET status, PUT ?digest=', async () => {
    const bytes = randomBytes(3000);
    const digest = sha256(bytes);
    let location = await startUpload(server.url, 'up/chunked');
    const chunks = [bytes.subarray(0, 1000), bytes.subarray(1000, 2000), bytes.subarray(2000)];
    let offset = 0;
    for (const [i, chunk] of chunks.entries()) {
      const range = i === 1 ? `bytes=${offset}-${offset + chunk.length - 1}` : `${offset}-${offset + chunk.length - 1}`;
      const res = await fetch(location, {
        method: 'PATCH',
        headers: { 'Content-Range': range, 'Content-Type': 'application/octet-stream' },
        body: chunk,
      });
      assert.equal(res.status, 202, await res.text());
      offset += chunk.length;
      assert.equal(res.headers.get('range'), `0-${offset - 1}`);
      assert.ok(res.headers.get('docker-upload-uuid'));
      assert.equal(res.headers.get('content-length'), '0');
      location = new URL(res.headers.get('location') ?? '', server.url).toString();
    }
    const status = await fetch(location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-2999');
    assert.equal(status.headers.get('location'), location);
    assert.ok(status.headers.get('docker-upload-uuid'));
    const put = await fetch(withDigest(location, digest), { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    assert.equal(put.headers.get('location'), blobUrl('up/chunked', digest));
    assert.equal(put.headers.get('docker-content-digest'), digest);
    assert.deepEqual(Buffer.from(await (await fetch(blobUrl('up/chunked', digest))).arrayBuffer()), bytes);
    // The session is gone after commit.
    await assertError(await fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('GET status of a fresh session reports Range 0-0', async () => {
    const location = await startUpload(server.url, 'up/status');
    const res = await fetch(location);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('range'), '0-0');
  });

  test('an out-of-order chunk answers 416 with the current Range and Location', async () => {
    const location = await startUpload(server.url, 'up/order');
    const first = await fetch(location, { method: 'PATCH', headers: { 'Content-Range': '0-9' }, body: 'a'.repeat(10) });
    assert.equal(first.status, 202);
    const next = new URL(first.headers.get('location') ?? '', server.url).toString();
    for (const range of ['20-29', '0-9', '5-14']) {
      const res = await fetch(next, { method: 'PATCH', headers: { 'Content-Range': range }, body: 'b'.repeat(10) });
      assert.equal(res.headers.get('range'), '0-9', range);
      assert.ok(res.headers.get('location'));
      await assertError(res, 416, 'RANGE_INVALID');
    }
    const status = await fetch(next);
    assert.equal(status.headers.get('range'), '0-9');
  });

  test('a malformed Content-Range answers 416', async () => {
    const location = await startUpload(server.url, 'up/order');
    const res = await fetch(location, { method: 'PATCH', headers: { 'Content-Range': 'nonsense' }, body: 'x' });
    assert.equal(res.headers.get('range'), '0-0');
    await assertError(res, 416, 'RANGE_INVALID');
  });

  test('Content-Length disagreeing with Content-Range answers 400 SIZE_INVALID', async () => {
    const location = await startUpload(server.url, 'up/size');
    const res = await fetch(location, { method: 'PATCH', headers: { 'Content-Range': '0-99' }, body: 'short' });
    await assertError(res, 400, 'SIZE_INVALID');
  });

  test('a streamed PATCH without Content-Range or Content-Length (chunked encoding) works', async () => {
    const parts = [randomBytes(100_000), randomBytes(50_000), randomBytes(1)];
    const all = Buffer.concat(parts);
    const location = await startUpload(server.url, 'up/stream');
    const res = await rawRequest(location, {
      method: 'PATCH',
      headers: { 'Transfer-Encoding': 'chunked' },
      body: parts,
    });
    assert.equal(res.status, 202, res.body.toString());
    assert.equal(res.headers['range'], `0-${all.length - 1}`);
    const put = await fetch(withDigest(new URL(res.headers['location'] ?? '', server.url).toString(), sha256(all)), {
      method: 'PUT',
    });
    assert.equal(put.status, 201, await put.text());
  });

  test('PUT with a final body commits the rest in one go', async () => {
    const bytes = randomBytes(2000);
    const location = await startUpload(server.url, 'up/final');
    const patch = await fetch(location, { method: 'PATCH', body: bytes.subarray(0, 500) });
    assert.equal(patch.status, 202);
    const next = new URL(patch.headers.get('location') ?? '', server.url).toString();
    const put = await fetch(withDigest(next, sha256(bytes)), { method: 'PUT', body: bytes.subarray(500) });
    assert.equal(put.status, 201, await put.text());
    assert.equal(put.headers.get('docker-content-digest'), sha256(bytes));
  });

  test('POST then a single PUT with the whole body (two-step monolithic) works', async () => {
    const bytes = randomBytes(777);
    const location = await startUpload(server.url, 'up/two-step');
    const put = await fetch(withDigest(location, sha256(bytes)), {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: bytes,
    });
    assert.equal(put.status, 201, await put.text());
  });

  test('PUT without or with a malformed digest answers 400 DIGEST_INVALID', async () => {
    const location = await startUpload(server.url, 'up/digest');
    await assertError(await fetch(location, { method: 'PUT' }), 400, 'DIGEST_INVALID');
    await assertError(await fetch(withDigest(location, 'sha256:zz'), { method: 'PUT' }), 400, 'DIGEST_INVALID');
    // The session survives a rejected parameter.
    assert.equal((await fetch(location)).status, 204);
  });

  test('PUT with a digest that does not match answers 400 DIGEST_INVALID; nothing is stored', async () => {
    const location = await startUpload(server.url, 'up/mismatch');
    const wrong = sha256('not this');
    const res = await fetch(withDigest(location, wrong), { method: 'PUT', body: 'this' });
    await assertError(res, 400, 'DIGEST_INVALID');
    await assertError(await fetch(blobUrl('up/mismatch', wrong)), 404, 'BLOB_UNKNOWN');
  });

  test('DELETE cancels a session: 204, then 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const location = await startUpload(server.url, 'up/cancel');
    const res = await fetch(location, { method: 'DELETE' });
    assert.equal(res.status, 204);
    await assertError(await fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    await assertError(await fetch(location, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('an unknown session answers 404 BLOB_UPLOAD_UNKNOWN for every method', async () => {
    // A correctly signed URL of a session that is gone (cancelled here).
    const location = await startUpload(server.url, 'up/unknown');
    assert.equal((await fetch(location, { method: 'DELETE' })).status, 204);
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      await assertError(
        await fetch(location, { method, ...(method === 'PATCH' ? { body: 'x' } : {}) }),
        404,
        'BLOB_UPLOAD_UNKNOWN',
      );
    }
    await assertError(await fetch(withDigest(location, sha256('x')), { method: 'PUT' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('a session belongs to its repository: its signed state is refused elsewhere (400, as distribution)', async () => {
    const location = new URL(await startUpload(server.url, 'up/owner'));
    const id = location.pathname.split('/').pop();
    const elsewhere = `${server.url}/v2/up/thief/blobs/uploads/${id}${location.search}`;
    await assertError(await fetch(elsewhere), 400, 'BLOB_UPLOAD_INVALID');
  });

  test('an upload URL without its signed _state answers 400 BLOB_UPLOAD_INVALID, as distribution', async () => {
    const location = new URL(await startUpload(server.url, 'up/unsigned'));
    const unsigned = `${location.origin}${location.pathname}`;
    for (const method of ['GET', 'PATCH', 'PUT', 'DELETE']) {
      await assertError(await fetch(unsigned, { method }), 400, 'BLOB_UPLOAD_INVALID');
    }
    assert.equal((await fetch(location, { method: 'GET' })).status, 204, 'the session itself is untouched');
  });
});

describe('uploads: cross-repository mounts', () => {
  let server: TestServer;
  let digest: string;
  before(async () => {
    server = await startTestServer();
    digest = await pushBlob(server.url, 'mount/source', 'mountable content');
  });
  after(() => server.close());

  async function mount(target: string, query: string) {
    const res = await fetch(`${server.url}/v2/${target}/blobs/uploads/?${query}`, { method: 'POST' });
    await res.arrayBuffer();
    return res;
  }

  test('?mount=&from= links the blob: 201 Location + Docker-Content-Digest', async () => {
    const res = await mount('mount/target', `mount=${digest}&from=mount/source`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `${server.url}/v2/mount/target/blobs/${digest}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(await (await fetch(`${server.url}/v2/mount/target/blobs/${digest}`)).text(), 'mountable content');
  });

  test('?mount= without from links the blob from anywhere in the registry', async () => {
    const res = await mount('mount/anywhere', `mount=${digest}`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal((await fetch(`${server.url}/v2/mount/anywhere/blobs/${digest}`)).status, 200);
  });

  test('a mount that cannot be served falls back to a new session (202)', async () => {
    const cases = [
      `mount=${sha256('absent')}&from=mount/source`,
      `mount=${digest}&from=mount/elsewhere`,
      `mount=${sha256('absent')}`,
      `mount=not-a-digest&from=mount/source`,
      `mount=${digest}&from=INVALID`,
    ];
    for (const query of cases) {
      const res = await mount('mount/fallback', query);
      assert.equal(res.status, 202, query);
      assert.ok(res.headers.get('docker-upload-uuid'), query);
      assert.match(res.headers.get('location') ?? '', /\/v2\/mount\/fallback\/blobs\/uploads\/.+/);
      assert.equal(res.headers.get('range'), '0-0');
    }
    await assertError(await fetch(`${server.url}/v2/mount/fallback/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });
});
