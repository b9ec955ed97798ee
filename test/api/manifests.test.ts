import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  assertError,
  OCI_MANIFEST,
  type PushedImage,
  pushImage,
  pushManifest,
  putManifest,
  rawRequest,
  sha256,
} from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('manifests', () => {
  let server: TestServer;
  let image: PushedImage;
  before(async () => {
    server = await startTestServer();
    image = await pushImage(server.url, 'man/app', 'v1');
  });
  after(() => server.close());

  const manifestUrl = (ref: string, name = 'man/app') => `${server.url}/v2/${name}/manifests/${ref}`;

  test('PUT by tag answers 201 with Location and Docker-Content-Digest', async () => {
    const pushed = await pushImage(server.url, 'man/app', 'put-test');
    assert.equal(pushed.manifestDigest, sha256(pushed.manifestBytes));
    const res = await putManifest(server.url, 'man/app', 'put-again', pushed.manifestBytes, OCI_MANIFEST);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), manifestUrl(pushed.manifestDigest));
    assert.equal(res.headers.get('docker-content-digest'), pushed.manifestDigest);
    assert.equal(res.headers.get('content-length'), '0');
    assert.equal(res.headers.get('oci-subject'), null);
    await res.arrayBuffer();
  });

  test('GET by tag and by digest serve the exact bytes with their headers', async () => {
    for (const ref of ['v1', image.manifestDigest]) {
      const res = await fetch(manifestUrl(ref), { headers: { Accept: OCI_MANIFEST } });
      assert.equal(res.status, 200, ref);
      assert.equal(res.headers.get('content-type'), OCI_MANIFEST);
      assert.equal(res.headers.get('docker-content-digest'), image.manifestDigest);
      assert.equal(res.headers.get('content-length'), String(image.manifestBytes.length));
      assert.equal(res.headers.get('etag'), `"${image.manifestDigest}"`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), image.manifestBytes);
    }
  });

  test('HEAD by tag and by digest answer the headers without a body', async () => {
    for (const ref of ['v1', image.manifestDigest]) {
      const res = await rawRequest(manifestUrl(ref), { method: 'HEAD' });
      assert.equal(res.status, 200);
      assert.equal(res.headers['docker-content-digest'], image.manifestDigest);
      assert.equal(res.headers['content-length'], String(image.manifestBytes.length));
      assert.equal(res.headers['content-type'], OCI_MANIFEST);
      assert.equal(res.body.length, 0);
    }
  });

  test('If-None-Match with the digest answers 304', async () => {
    const res = await fetch(manifestUrl('v1'), { headers: { 'If-None-Match': `"${image.manifestDigest}"` } });
    assert.equal(res.status, 304);
    assert.equal(res.headers.get('docker-content-digest'), image.manifestDigest);
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  test('unknown tags and digests answer 404 MANIFEST_UNKNOWN', async () => {
    await assertError(await fetch(manifestUrl('nope')), 404, 'MANIFEST_UNKNOWN');
    await assertError(await fetch(manifestUrl(sha256('nope'))), 404, 'MANIFEST_UNKNOWN');
    await assertError(await fetch(manifestUrl('v1', 'man/other')), 404, 'MANIFEST_UNKNOWN');
    const head = await rawRequest(manifestUrl('nope'), { method: 'HEAD' });
    assert.equal(head.status, 404);
  });

  test('PUT by digest stores without tagging; a mismatching digest answers 400 DIGEST_INVALID', async () => {
    const bytes = Buffer.from(JSON.stringify({ ...image.manifest, annotations: { by: 'digest' } }));
    const digest = sha256(bytes);
    const ok = await putManifest(server.url, 'man/bydigest', digest, bytes, OCI_MANIFEST);
    // The blobs live in man/app; this repository does not have them yet.
    await assertError(ok, 404, 'MANIFEST_BLOB_UNKNOWN');
    const res = await putManifest(server.url, 'man/app', digest, bytes, OCI_MANIFEST);
    assert.equal(res.status, 201, await res.text());
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal((await fetch(manifestUrl(digest))).status, 200);
    const wrong = await putManifest(server.url, 'man/app', sha256('other'), bytes, OCI_MANIFEST);
    await assertError(wrong, 400, 'DIGEST_INVALID');
  });

  test('malformed manifests answer 400 MANIFEST_INVALID', async () => {
    await assertError(
      await putManifest(server.url, 'man/app', 'bad', Buffer.from('{not json'), OCI_MANIFEST),
      400,
      'MANIFEST_INVALID',
    );
    const noLayers = Buffer.from(JSON.stringify({ schemaVersion: 1, mediaType: OCI_MANIFEST }));
    await assertError(await putManifest(server.url, 'man/app', 'bad', noLayers, OCI_MANIFEST), 400, 'MANIFEST_INVALID');
  });

  test('a manifest referencing an unknown blob answers 404 MANIFEST_BLOB_UNKNOWN', async () => {
    const manifest = {
      ...image.manifest,
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256('absent'), size: 6 }],
    };
    const res = await putManifest(server.url, 'man/app', 'broken', Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST);
    await assertError(res, 404, 'MANIFEST_BLOB_UNKNOWN');
  });

  test('a body over 4 MiB answers 413 MANIFEST_INVALID (streamed)', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const res = await rawRequest(manifestUrl('huge'), {
      method: 'PUT',
      headers: { 'Content-Type': OCI_MANIFEST, 'Transfer-Encoding': 'chunked' },
      body: [big.subarray(0, 1024 * 1024), big.subarray(1024 * 1024)],
    });
    assert.equal(res.status, 413);
    const body = JSON.parse(res.body.toString()) as { errors: Array<{ code: string }> };
    assert.equal(body.errors[0]?.code, 'MANIFEST_INVALID');
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
  });

  test('a declared Content-Length over 4 MiB is refused before the body is read', async () => {
    const { status, code } = await new Promise<{ status: number; code: string }>((resolve, reject) => {
      const req = request(manifestUrl('huge'), {
        method: 'PUT',
        headers: { 'Content-Type': OCI_MANIFEST, 'Content-Length': 64 * 1024 * 1024 },
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as { errors: Array<{ code: string }> };
          resolve({ status: res.statusCode ?? 0, code: body.errors[0]?.code ?? '' });
          req.destroy();
        });
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(status, 413);
    assert.equal(code, 'MANIFEST_INVALID');
  });

  test('a manifest with a subject answers OCI-Subject', async () => {
    const subject = { mediaType: OCI_MANIFEST, digest: image.manifestDigest, size: image.manifestBytes.length };
    const referrer = await pushImage(server.url, 'man/app', 'sig', {
      subject,
      artifactType: 'application/vnd.example.sig',
    });
    const res = await putManifest(server.url, 'man/app', 'sig2', referrer.manifestBytes, OCI_MANIFEST);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('oci-subject'), image.manifestDigest);
    await res.arrayBuffer();
  });

  test('DELETE answers 405 UNSUPPORTED when deletes are disabled', async () => {
    await assertError(await fetch(manifestUrl(image.manifestDigest), { method: 'DELETE' }), 405, 'UNSUPPORTED');
    await assertError(await fetch(manifestUrl('v1'), { method: 'DELETE' }), 405, 'UNSUPPORTED');
    assert.equal((await fetch(manifestUrl('v1'))).status, 200);
  });

  test('pushing the same tag again moves it', async () => {
    const a = await pushImage(server.url, 'man/move', 'latest');
    const b = await pushImage(server.url, 'man/move', 'latest');
    assert.notEqual(a.manifestDigest, b.manifestDigest);
    const res = await fetch(manifestUrl('latest', 'man/move'));
    assert.equal(res.headers.get('docker-content-digest'), b.manifestDigest);
    await res.arrayBuffer();
  });
});

describe('manifests: DELETE enabled', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ storage: { delete: { enabled: true } } });
  });
  after(() => server.close());

  test('DELETE by digest answers 202; the manifest and its tags are gone', async () => {
    const image = await pushImage(server.url, 'del/app', 'v1');
    const url = `${server.url}/v2/del/app/manifests/${image.manifestDigest}`;
    const res = await fetch(url, { method: 'DELETE' });
    assert.equal(res.status, 202);
    await res.arrayBuffer();
    await assertError(await fetch(url), 404, 'MANIFEST_UNKNOWN');
    await assertError(await fetch(`${server.url}/v2/del/app/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    await assertError(await fetch(url, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  });

  test('DELETE by tag untags (OCI 1.1): 202, the digest stays', async () => {
    const image = await pushImage(server.url, 'del/tag', 'v1');
    await pushManifest(server.url, 'del/tag', 'v2', image.manifestBytes, OCI_MANIFEST);
    const res = await fetch(`${server.url}/v2/del/tag/manifests/v1`, { method: 'DELETE' });
    assert.equal(res.status, 202);
    await res.arrayBuffer();
    await assertError(await fetch(`${server.url}/v2/del/tag/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await fetch(`${server.url}/v2/del/tag/manifests/v2`)).status, 200);
    assert.equal((await fetch(`${server.url}/v2/del/tag/manifests/${image.manifestDigest}`)).status, 200);
    const tags = (await (await fetch(`${server.url}/v2/del/tag/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v2']);
    await assertError(
      await fetch(`${server.url}/v2/del/tag/manifests/v1`, { method: 'DELETE' }),
      404,
      'MANIFEST_UNKNOWN',
    );
  });
});
