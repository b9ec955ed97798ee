import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertError,
  DOCKER_LIST,
  DOCKER_MANIFEST,
  OCI_INDEX,
  OCI_MANIFEST,
  type PushedImage,
  pushImage,
  pushManifest,
  rawRequest,
} from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const platform = (architecture: string) => ({ os: 'linux', architecture });

describe('manifest content negotiation', () => {
  let server: TestServer;
  let amd64: PushedImage;
  let arm64: PushedImage;
  let ociImage: PushedImage;
  let listDigest: string;
  let indexDigest: string;
  let armOnlyListDigest: string;
  const name = 'neg/app';

  before(async () => {
    server = await startTestServer();
    amd64 = await pushImage(server.url, name, 'amd64', { docker: true });
    arm64 = await pushImage(server.url, name, 'arm64', { docker: true });
    ociImage = await pushImage(server.url, name, 'oci');
    const child = (image: PushedImage, mediaType: string, arch: string) => ({
      mediaType,
      digest: image.manifestDigest,
      size: image.manifestBytes.length,
      platform: platform(arch),
    });
    const list = {
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [child(arm64, DOCKER_MANIFEST, 'arm64'), child(amd64, DOCKER_MANIFEST, 'amd64')],
    };
    listDigest = (await pushManifest(server.url, name, 'list', list, DOCKER_LIST)).digest;
    const armOnly = { schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [child(arm64, DOCKER_MANIFEST, 'arm64')] };
    armOnlyListDigest = (await pushManifest(server.url, name, 'arm-only', armOnly, DOCKER_LIST)).digest;
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child(ociImage, OCI_MANIFEST, 'amd64')] };
    indexDigest = (await pushManifest(server.url, name, 'index', index, OCI_INDEX)).digest;
  });
  after(() => server.close());

  async function get(ref: string, accept?: string | string[]) {
    return rawRequest(
      `${server.url}/v2/${name}/manifests/${ref}`,
      accept === undefined ? {} : { headers: { Accept: accept } },
    );
  }

  test('without Accept, a tag serves what is stored', async () => {
    for (const [ref, type] of [
      ['index', OCI_INDEX],
      ['list', DOCKER_LIST],
      ['oci', OCI_MANIFEST],
      ['amd64', DOCKER_MANIFEST],
    ] as const) {
      const res = await get(ref);
      assert.equal(res.status, 200, ref);
      assert.equal(res.headers['content-type'], type, ref);
    }
  });

  test('an Accept that lists the stored type serves it (comma lists, several headers, q-params)', async () => {
    const cases: Array<string | string[]> = [
      OCI_INDEX,
      `${DOCKER_MANIFEST}, ${OCI_INDEX}`,
      [DOCKER_MANIFEST, OCI_INDEX],
      `${DOCKER_MANIFEST};q=0.9, ${OCI_INDEX};q=0.5`,
      `${DOCKER_MANIFEST}, */*`,
      `${DOCKER_MANIFEST}, application/*`,
      'application/json',
    ];
    for (const accept of cases) {
      const res = await get('index', accept);
      assert.equal(res.status, 200, String(accept));
      assert.equal(res.headers['docker-content-digest'], indexDigest);
    }
  });

  test('an OCI index fetched by tag with an Accept that excludes it answers 404 MANIFEST_UNKNOWN', async () => {
    for (const accept of [
      DOCKER_MANIFEST,
      `${DOCKER_MANIFEST}, ${DOCKER_LIST}`,
      `${DOCKER_MANIFEST}, ${OCI_INDEX};q=0`,
    ]) {
      const res = await get('index', accept);
      assert.equal(res.status, 404, accept);
      assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
      const body = JSON.parse(res.body.toString()) as { errors: Array<{ code: string; message: string }> };
      assert.equal(body.errors[0]?.code, 'MANIFEST_UNKNOWN');
      assert.match(body.errors[0]?.message ?? '', new RegExp(`${OCI_INDEX.replace(/[.+]/g, '\\$&')}.*Accept`));
    }
  });

  test('an OCI manifest fetched by tag by a Docker-only client answers 404 MANIFEST_UNKNOWN', async () => {
    const res = await fetch(`${server.url}/v2/${name}/manifests/oci`, { headers: { Accept: DOCKER_MANIFEST } });
    await assertError(res, 404, 'MANIFEST_UNKNOWN');
  });

  test('by digest, the stored bytes are served whatever the Accept', async () => {
    for (const digest of [indexDigest, listDigest, ociImage.manifestDigest]) {
      const res = await get(digest, DOCKER_MANIFEST);
      assert.equal(res.status, 200, digest);
      assert.equal(res.headers['docker-content-digest'], digest);
    }
  });

  test('a Docker manifest list for a schema2-only client serves the linux/amd64 child', async () => {
    const res = await get('list', DOCKER_MANIFEST);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], DOCKER_MANIFEST);
    assert.equal(res.headers['docker-content-digest'], amd64.manifestDigest);
    assert.deepEqual(res.body, amd64.manifestBytes);
    const head = await rawRequest(`${server.url}/v2/${name}/manifests/list`, {
      method: 'HEAD',
      headers: { Accept: DOCKER_MANIFEST },
    });
    assert.equal(head.headers['docker-content-digest'], amd64.manifestDigest);
  });

  test('a client accepting manifest lists gets the list', async () => {
    const res = await get('list', `${DOCKER_MANIFEST}, ${DOCKER_LIST}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], DOCKER_LIST);
    assert.equal(res.headers['docker-content-digest'], listDigest);
  });

  test('a list without a linux/amd64 child answers 404 MANIFEST_UNKNOWN to a schema2-only client', async () => {
    const res = await get('arm-only', DOCKER_MANIFEST);
    assert.equal(res.status, 404);
    const body = JSON.parse(res.body.toString()) as { errors: Array<{ code: string }> };
    assert.equal(body.errors[0]?.code, 'MANIFEST_UNKNOWN');
    assert.equal((await get(armOnlyListDigest, DOCKER_MANIFEST)).status, 200);
  });

  test('a manifest list for an OCI-only client is not rewritten', async () => {
    const res = await get('list', OCI_MANIFEST);
    assert.equal(res.status, 404);
  });
});
