/**
 * Manifest bodies are kept in memory by digest (blob-store.ts): a pull reads them from storage
 * once, and the repository's revision link still decides on every read whether the manifest exists.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { blobDataPath } from '../../src/registry/paths.js';
import { createRegistry } from '../../src/registry/registry.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { createFilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { createTempDir, name, pushImage } from './fixtures.js';

/** The driver, counting its getContent calls per path. */
function counting(driver: StorageDriver): { driver: StorageDriver; reads: Map<string, number> } {
  const reads = new Map<string, number>();
  const wrapped: StorageDriver = Object.create(driver);
  wrapped.getContent = (path, opts) => {
    reads.set(path, (reads.get(path) ?? 0) + 1);
    return driver.getContent(path, opts);
  };
  return { driver: wrapped, reads };
}

describe('manifest content cache', () => {
  it('reads a manifest body from storage once, and serves the same bytes after', async () => {
    const root = await createTempDir('berth-manifest-cache-');
    try {
      const { driver, reads } = counting(createFilesystemDriver({ rootdirectory: root }));
      const repo = createRegistry({ driver, deleteEnabled: true }).repository(name('library/app'));
      const image = await pushImage(repo, { tag: 'v1' });
      for (let i = 0; i < 3; i++) {
        const manifest = await repo.manifests().get(image.digest);
        assert.deepEqual(manifest.payload, Buffer.from(image.payload));
        assert.equal(manifest.digest, image.digest);
      }
      assert.ok((reads.get(blobDataPath(image.digest)) ?? 0) <= 1, 'the manifest blob was read more than once');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('answers MANIFEST_UNKNOWN once the manifest is deleted, here or by another process', async () => {
    const root = await createTempDir('berth-manifest-cache-');
    try {
      const driver = createFilesystemDriver({ rootdirectory: root });
      const registry = createRegistry({ driver, deleteEnabled: true });
      const repo = registry.repository(name('library/app'));
      const first = await pushImage(repo, { tag: 'v1' });
      const second = await pushImage(repo, { seed: 2, tag: 'v2' });
      await repo.manifests().get(first.digest);
      await repo.manifests().get(second.digest);

      await repo.manifests().delete(first.digest);
      await assert.rejects(repo.manifests().get(first.digest), { code: 'MANIFEST_UNKNOWN' });

      const replica = createRegistry({ driver: createFilesystemDriver({ rootdirectory: root }), deleteEnabled: true });
      await replica.repository(name('library/app')).manifests().delete(second.digest);
      await assert.rejects(repo.manifests().get(second.digest), { code: 'MANIFEST_UNKNOWN' });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('keeps a cached manifest to its repository: another repository without the link gets MANIFEST_UNKNOWN', async () => {
    const root = await createTempDir('berth-manifest-cache-');
    try {
      const registry = createRegistry({ driver: createFilesystemDriver({ rootdirectory: root }), deleteEnabled: true });
      const image = await pushImage(registry.repository(name('library/app')), { tag: 'v1' });
      await registry.repository(name('library/app')).manifests().get(image.digest);
      await assert.rejects(registry.repository(name('other/app')).manifests().get(image.digest), {
        code: 'MANIFEST_UNKNOWN',
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
