import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertError, OCI_INDEX, OCI_MANIFEST, type PushedImage, pushImage, sha256 } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests: Array<{ mediaType: string; digest: string; size: number; artifactType?: string; annotations?: object }>;
}

describe('referrers', () => {
  let server: TestServer;
  let subject: PushedImage;
  let sig: PushedImage;
  let sbom: PushedImage;
  const name = 'ref/app';
  before(async () => {
    server = await startTestServer();
    subject = await pushImage(server.url, name, 'v1');
    const descriptor = { mediaType: OCI_MANIFEST, digest: subject.manifestDigest, size: subject.manifestBytes.length };
    sig = await pushImage(server.url, name, 'sig', {
      subject: descriptor,
      artifactType: 'application/vnd.example.sig',
    });
    sbom = await pushImage(server.url, name, 'sbom', {
      subject: descriptor,
      artifactType: 'application/vnd.example.sbom',
    });
  });
  after(() => server.close());

  const referrers = (digest: string, query = '') => fetch(`${server.url}/v2/${name}/referrers/${digest}${query}`);

  test('lists the referrers as an OCI index', async () => {
    const res = await referrers(subject.manifestDigest);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), OCI_INDEX);
    assert.equal(res.headers.get('oci-filters-applied'), null);
    const index = (await res.json()) as Index;
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, OCI_INDEX);
    const byDigest = new Map(index.manifests.map((m) => [m.digest, m]));
    assert.equal(byDigest.size, 2);
    const sigEntry = byDigest.get(sig.manifestDigest);
    assert.equal(sigEntry?.mediaType, OCI_MANIFEST);
    assert.equal(sigEntry?.size, sig.manifestBytes.length);
    assert.equal(sigEntry?.artifactType, 'application/vnd.example.sig');
    assert.equal(byDigest.get(sbom.manifestDigest)?.artifactType, 'application/vnd.example.sbom');
  });

  test('artifactType filters and answers OCI-Filters-Applied', async () => {
    const res = await referrers(subject.manifestDigest, '?artifactType=application/vnd.example.sbom');
    assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
    const index = (await res.json()) as Index;
    assert.deepEqual(
      index.manifests.map((m) => m.digest),
      [sbom.manifestDigest],
    );
  });

  test('an unknown subject answers an empty index, never 404', async () => {
    for (const path of [`${name}/referrers/${sha256('none')}`, `ref/unknown-repo/referrers/${sha256('none')}`]) {
      const res = await fetch(`${server.url}/v2/${path}`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    }
  });

  test('an invalid digest answers 400 DIGEST_INVALID', async () => {
    await assertError(await referrers('sha256:123'), 400, 'DIGEST_INVALID');
  });
});
