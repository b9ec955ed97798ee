/**
 * Two Berth processes on one storage directory: what one writes, the other answers at once, even
 * where its answers come from memory (the filesystem driver's stat-validated caches of links,
 * manifests and listings, the tag store's derived tags, the tags list's body).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Replica, startReplica } from '../cluster/processes.js';
import { OCI_MANIFEST, type PushedImage, pushImage, pushManifest } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** Gives every file and directory below `dir` an mtime a minute old, so the caches trust them. */
async function settle(dir: string): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    await utimes(join(entry.parentPath, entry.name), past, past);
  }
  await utimes(dir, past, past);
}

describe('caches across processes sharing a storage directory', () => {
  const name = 'shared/app';
  let reader: TestServer;
  let writer: Replica;
  let configDir: string;
  let first: PushedImage;
  let second: PushedImage;

  before(async () => {
    reader = await startTestServer({ storage: { delete: { enabled: true } } });
    configDir = await mkdtemp(join(tmpdir(), 'berth-shared-'));
    writer = await startReplica(configDir, 'writer', {
      version: '0.1',
      log: { level: 'error', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: reader.rootDir }, delete: { enabled: true } },
      http: { workers: 1 },
    });
  });
  after(async () => {
    await writer?.stop();
    await reader?.close();
    if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
  });

  const manifest = (base: string, reference: string) =>
    fetch(`${base}/v2/${name}/manifests/${reference}`, { headers: { Accept: OCI_MANIFEST } });
  const tags = async (base: string) => {
    const res = await fetch(`${base}/v2/${name}/tags/list`);
    assert.equal(res.status, 200);
    return ((await res.json()) as { tags: string[] }).tags;
  };
  const layerStatus = async (base: string, digest: string) =>
    (await fetch(`${base}/v2/${name}/blobs/${digest}`, { method: 'HEAD' })).status;

  /** Reads everything twice through the reader: the second round is answered from its caches. */
  async function readTwice(expected: { v1: PushedImage; tags: string[] }): Promise<void> {
    for (let round = 0; round < 2; round++) {
      const res = await manifest(reader.url, 'v1');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), expected.v1.manifestDigest);
      assert.equal(res.headers.get('content-type'), OCI_MANIFEST);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), expected.v1.manifestBytes);
      assert.deepEqual(await tags(reader.url), expected.tags);
    }
  }

  test('a tag moved, a tag added and a layer unlinked by the other process are seen at once', async () => {
    first = await pushImage(writer.url, name, 'v1');
    await pushManifest(writer.url, name, 'keep', first.manifestBytes, OCI_MANIFEST);
    await settle(reader.registryRoot);
    await readTwice({ v1: first, tags: ['keep', 'v1'] });
    assert.equal(await layerStatus(reader.url, first.layer.digest), 200);
    assert.equal(await layerStatus(reader.url, first.layer.digest), 200);

    second = await pushImage(writer.url, name, 'v1');
    await pushManifest(writer.url, name, 'v2', second.manifestBytes, OCI_MANIFEST);
    const unlinked = await fetch(`${writer.url}/v2/${name}/blobs/${first.layer.digest}`, { method: 'DELETE' });
    assert.equal(unlinked.status, 202);

    await readTwice({ v1: second, tags: ['keep', 'v1', 'v2'] });
    assert.equal(await layerStatus(reader.url, first.layer.digest), 404);
  });

  test('a manifest and a tag deleted by the other process are gone at once', async () => {
    await settle(reader.registryRoot);
    await readTwice({ v1: second, tags: ['keep', 'v1', 'v2'] });
    assert.equal((await manifest(reader.url, first.manifestDigest)).status, 200);

    // Deleting the manifest removes the tags pointing at it (`keep`); `v2` is untagged on its own.
    assert.equal(
      (await fetch(`${writer.url}/v2/${name}/manifests/${first.manifestDigest}`, { method: 'DELETE' })).status,
      202,
    );
    assert.equal((await fetch(`${writer.url}/v2/${name}/manifests/v2`, { method: 'DELETE' })).status, 202);

    assert.equal((await manifest(reader.url, first.manifestDigest)).status, 404);
    assert.equal((await manifest(reader.url, 'keep')).status, 404);
    await readTwice({ v1: second, tags: ['v1'] });
  });
});
