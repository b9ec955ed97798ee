/**
 * Storage written by the services is served by Debian's docker-registry (CNCF distribution 2.8)
 * and storage written by it is read by the services, including an upload it left half done.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { MEDIA_TYPES } from '../../src/registry/media-types.js';
import { parseUploadId } from '../../src/registry/names.js';
import { createRegistry } from '../../src/registry/registry.js';
import type { Registry } from '../../src/registry/types.js';
import { createFilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { type DockerRegistry, startDockerRegistry } from '../helpers/tools.js';
import {
  chunked,
  content,
  createTempDir,
  descriptorOf,
  imageConfig,
  name,
  pushImage,
  readAll,
  sha256Digest,
  tag,
} from './fixtures.js';

async function fetchBytes(url: string, init: RequestInit = {}): Promise<{ response: Response; body: Buffer }> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { response, body: Buffer.from(await response.arrayBuffer()) };
}

/** Monolithic blob push to distribution: POST then PUT with the digest. */
async function pushBlobOverHttp(base: string, repo: string, data: Buffer): Promise<void> {
  const { response: started } = await fetchBytes(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(started.status, 202);
  const location = new URL(started.headers.get('location') ?? '', base);
  location.searchParams.set('digest', sha256Digest(data));
  const { response } = await fetchBytes(location.href, { method: 'PUT', body: data });
  assert.equal(response.status, 201);
}

describe('compatibility with distribution 2.8 storage', () => {
  let root: string;
  let distribution: DockerRegistry;
  let berth: Registry;

  before(async () => {
    root = await createTempDir('berth-compat-');
    distribution = await startDockerRegistry({ rootDir: root });
    berth = createRegistry({ driver: createFilesystemDriver({ rootdirectory: root }), deleteEnabled: true });
  });

  after(async () => {
    await distribution?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('distribution serves what the services stored', async () => {
    const repo = berth.repository(name('berth/app'));
    const image = await pushImage(repo, { tag: 'v1', mediaType: MEDIA_TYPES.dockerManifest });
    const { response, body } = await fetchBytes(`${distribution.url}/v2/berth/app/manifests/v1`, {
      headers: { accept: MEDIA_TYPES.dockerManifest },
    });
    assert.equal(response.status, 200, body.toString());
    assert.deepEqual(body, image.payload);
    assert.equal(response.headers.get('docker-content-digest'), image.digest);
    assert.equal(response.headers.get('content-type'), MEDIA_TYPES.dockerManifest);
    const layer = image.layers[0]!;
    const blob = await fetchBytes(`${distribution.url}/v2/berth/app/blobs/${sha256Digest(layer)}`);
    assert.equal(blob.response.status, 200);
    assert.deepEqual(blob.body, layer);
    const tags = await fetchBytes(`${distribution.url}/v2/berth/app/tags/list`);
    assert.deepEqual(JSON.parse(tags.body.toString()), { name: 'berth/app', tags: ['v1'] });
    const catalog = await fetchBytes(`${distribution.url}/v2/_catalog`);
    assert.ok((JSON.parse(catalog.body.toString()) as { repositories: string[] }).repositories.includes('berth/app'));
  });

  it('the services read what distribution stored, and finish its half-done upload', async () => {
    const base = distribution.url;
    const config = imageConfig(5);
    const layer = content(40_000, 5);
    await pushBlobOverHttp(base, 'dist/app', config);
    await pushBlobOverHttp(base, 'dist/app', layer);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: descriptorOf('application/vnd.oci.image.config.v1+json', config),
        layers: [descriptorOf('application/vnd.oci.image.layer.v1.tar+gzip', layer)],
      }),
    );
    const put = await fetchBytes(`${base}/v2/dist/app/manifests/latest`, {
      method: 'PUT',
      headers: { 'content-type': MEDIA_TYPES.ociManifest },
      body: manifest,
    });
    assert.equal(put.response.status, 201, put.body.toString());

    const repo = berth.repository(name('dist/app'));
    const digest = await repo.tags().get(tag('latest'));
    assert.equal(digest, sha256Digest(manifest));
    assert.deepEqual(await repo.manifests().get(digest), {
      digest,
      mediaType: MEDIA_TYPES.ociManifest,
      payload: manifest,
    });
    assert.deepEqual(await readAll((await repo.blobs().open(sha256Digest(layer))).stream), layer);
    assert.deepEqual(await repo.tags().list(), ['latest']);
    assert.ok((await berth.catalog()).includes('dist/app'));

    // Distribution starts an upload and receives one chunk; the services take it over.
    const data = content(30_000, 6);
    const started = await fetchBytes(`${base}/v2/dist/app/blobs/uploads/`, { method: 'POST' });
    const location = new URL(started.response.headers.get('location') ?? '', base);
    const patched = await fetchBytes(location.href, {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream' },
      body: data.subarray(0, 12_000),
    });
    assert.equal(patched.response.status, 202, patched.body.toString());
    const uuid = parseUploadId(patched.response.headers.get('docker-upload-uuid') ?? '');
    const session = await repo.uploads().resume(uuid);
    assert.equal(session.size, 12_000);
    await session.append(chunked(data.subarray(12_000), 4096), { offset: 12_000 });
    const committed = await session.commit(sha256Digest(data));
    const served = await fetchBytes(`${base}/v2/dist/app/blobs/${committed.digest}`);
    assert.equal(served.response.status, 200);
    assert.deepEqual(served.body, data);
  });
});
