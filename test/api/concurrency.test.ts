import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { OCI_MANIFEST, pushBlob, pushImage, putManifest, sha256, startUpload, withDigest } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const PARALLEL = 16;

describe('concurrency', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  test(`${PARALLEL} parallel monolithic pushes of the same blob all succeed and agree`, async () => {
    const bytes = randomBytes(256 * 1024);
    const digests = await Promise.all(Array.from({ length: PARALLEL }, () => pushBlob(server.url, 'conc/same', bytes)));
    assert.ok(digests.every((d) => d === sha256(bytes)));
    const res = await fetch(`${server.url}/v2/conc/same/blobs/${sha256(bytes)}`);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(bytes));
  });

  test(`${PARALLEL} parallel chunked uploads of the same blob into different repositories`, async () => {
    const bytes = randomBytes(300 * 1024);
    const digest = sha256(bytes);
    await Promise.all(
      Array.from({ length: PARALLEL }, async (_, i) => {
        const location = await startUpload(server.url, `conc/repo${i}`);
        const patch = await fetch(location, { method: 'PATCH', body: bytes.subarray(0, 100 * 1024) });
        assert.equal(patch.status, 202);
        const next = new URL(patch.headers.get('location') ?? '', server.url).toString();
        const put = await fetch(withDigest(next, digest), { method: 'PUT', body: bytes.subarray(100 * 1024) });
        assert.equal(put.status, 201, await put.text());
      }),
    );
    for (let i = 0; i < PARALLEL; i++) {
      const res = await fetch(`${server.url}/v2/conc/repo${i}/blobs/${digest}`);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest);
    }
  });

  test('parallel pushes of different blobs all land intact', async () => {
    const blobs = Array.from({ length: PARALLEL }, (_, i) => randomBytes(64 * 1024 + i));
    const digests = await Promise.all(blobs.map((b) => pushBlob(server.url, 'conc/many', b)));
    await Promise.all(
      digests.map(async (digest) => {
        const res = await fetch(`${server.url}/v2/conc/many/blobs/${digest}`);
        assert.equal(res.status, 200);
        assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest);
      }),
    );
  });

  test(`${PARALLEL} parallel pushes to the same tag end consistent`, async () => {
    const base = await pushImage(server.url, 'conc/tag', 'seed');
    const manifests = Array.from({ length: PARALLEL }, (_, i) =>
      Buffer.from(JSON.stringify({ ...base.manifest, annotations: { n: String(i) } })),
    );
    const results = await Promise.all(
      manifests.map(async (bytes) => {
        const res = await putManifest(server.url, 'conc/tag', 'latest', bytes, OCI_MANIFEST);
        await res.arrayBuffer();
        return res.status;
      }),
    );
    assert.ok(
      results.every((s) => s === 201),
      String(results),
    );
    const res = await fetch(`${server.url}/v2/conc/tag/manifests/latest`);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    const digest = res.headers.get('docker-content-digest');
    // The tag points at one of the pushed manifests, and the bytes served match the digest.
    assert.equal(digest, sha256(body));
    assert.ok(manifests.some((m) => sha256(m) === digest));
    for (const bytes of manifests) {
      assert.equal((await fetch(`${server.url}/v2/conc/tag/manifests/${sha256(bytes)}`)).status, 200);
    }
    const tags = (await (await fetch(`${server.url}/v2/conc/tag/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['latest', 'seed']);
  });

  test('parallel reads of one blob with ranges', async () => {
    const bytes = randomBytes(100_000);
    const digest = await pushBlob(server.url, 'conc/read', bytes);
    await Promise.all(
      Array.from({ length: PARALLEL * 2 }, async (_, i) => {
        const start = i * 1000;
        const res = await fetch(`${server.url}/v2/conc/read/blobs/${digest}`, {
          headers: { Range: `bytes=${start}-${start + 999}` },
        });
        assert.equal(res.status, 206);
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes.subarray(start, start + 1000));
      }),
    );
  });
});
