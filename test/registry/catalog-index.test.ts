/** The catalog's derived index: kept current by pushes, rebuilt from the tree, reconciled with it. */
import assert from 'node:assert/strict';
import { rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCatalog } from '../../src/registry/catalog.js';
import {
  CATALOG_BUILT_PATH,
  CATALOG_INDEX_DIR,
  createCatalogIndex,
  markerPath,
} from '../../src/registry/catalog-index.js';
import { linkContent, manifestRevisionLinkPath, repositoryDir } from '../../src/registry/paths.js';
import { createRegistry } from '../../src/registry/registry.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { createFilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { createInMemoryDriver } from '../../src/storage/drivers/inmemory.js';
import { createTempDir, name, pushBlob, pushImage, sha256Digest } from './fixtures.js';

async function withRoot(fn: (root: string, driver: StorageDriver) => Promise<void>): Promise<void> {
  const root = await createTempDir('berth-catalog-index-');
  try {
    await fn(root, createFilesystemDriver({ rootdirectory: root }));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** A repository as registry:2 (or a restored backup) leaves it: a revision link, no index entry. */
async function writeForeignRepository(driver: StorageDriver, repo: string): Promise<void> {
  const digest = sha256Digest(Buffer.from(repo));
  await driver.putContent(manifestRevisionLinkPath(name(repo), digest), linkContent(digest));
}

describe('catalog index', () => {
  it('lists pushed repositories in order, one marker each, without walking the tree per request', async () => {
    await withRoot(async (root, driver) => {
      const registry = createRegistry({ driver, deleteEnabled: false });
      assert.deepEqual(await registry.catalog(), []);
      await pushImage(registry.repository(name('zeta/app')), { tag: 'v1' });
      await pushBlob(registry.repository(name('alpha')), Buffer.from('layer only'));
      await pushImage(registry.repository(name('library/ubuntu')), { tag: 'latest' });
      assert.deepEqual(await registry.catalog(), ['alpha', 'library/ubuntu', 'zeta/app']);
      assert.deepEqual(await registry.catalog({ last: 'alpha', limit: 1 }), ['library/ubuntu']);
      const marker = await stat(join(root, markerPath(name('library/ubuntu'))));
      assert.ok(marker.isFile());
      // A repository written behind the index's back is not seen until a reconciliation: proof
      // that requests are answered from the index, not from a walk.
      await writeForeignRepository(driver, 'foreign/repo');
      assert.deepEqual(await registry.catalog(), ['alpha', 'library/ubuntu', 'zeta/app']);
    });
  });

  it('is built from an existing storage tree on the first catalog request', async () => {
    await withRoot(async (root, driver) => {
      await writeForeignRepository(driver, 'b/nested/name');
      await writeForeignRepository(driver, 'a');
      const registry = createRegistry({ driver, deleteEnabled: false });
      assert.deepEqual(await registry.catalog(), ['a', 'b/nested/name']);
      assert.ok((await stat(join(root, CATALOG_BUILT_PATH))).isFile());
      // Deleting the index forces a rebuild: it holds nothing that cannot be derived again.
      await rm(join(root, CATALOG_INDEX_DIR, '..'), { recursive: true });
      await writeForeignRepository(driver, 'c');
      const fresh = createRegistry({ driver, deleteEnabled: false });
      assert.deepEqual(await fresh.catalog(), ['a', 'b/nested/name', 'c']);
    });
  });

  it('shows a repository pushed through another process at once, even within the same clock tick', async () => {
    await withRoot(async (_root, driver) => {
      const first = createRegistry({ driver, deleteEnabled: false });
      const second = createRegistry({ driver: createFilesystemDriver({ rootdirectory: _root }), deleteEnabled: false });
      await pushBlob(first.repository(name('one')), Buffer.from('1'));
      assert.deepEqual(await first.catalog(), ['one']);
      for (const repo of ['two', 'three', 'four']) {
        await pushBlob(second.repository(name(repo)), Buffer.from(repo));
        assert.ok((await first.catalog()).includes(repo), repo);
      }
      assert.deepEqual(await first.catalog(), ['four', 'one', 'three', 'two']);
    });
  });

  it('reconciles with the tree: adds what appeared behind its back, drops markers of vanished repositories', async () => {
    await withRoot(async (root, driver) => {
      const catalog = createCatalog(driver);
      const index = createCatalogIndex(driver, { walk: (opts) => catalog.repositories(opts) });
      await writeForeignRepository(driver, 'kept');
      await writeForeignRepository(driver, 'vanishing');
      assert.deepEqual(await index.names(), ['kept', 'vanishing']);
      await rm(join(root, repositoryDir(name('vanishing'))), { recursive: true });
      await writeForeignRepository(driver, 'appeared');
      // A marker only seconds old may belong to a repository the walk has not seen yet: kept.
      await index.reconcile();
      assert.deepEqual(await index.names(), ['appeared', 'kept', 'vanishing']);
      // Once older than the walk's start (with margin), a marker without a repository goes.
      const old = new Date(Date.now() - 60_000);
      await utimes(join(root, markerPath(name('vanishing'))), old, old);
      await index.reconcile();
      assert.deepEqual(await index.names(), ['appeared', 'kept']);
    });
  });

  it('starts a background reconciliation when the last walk is older than the limit', async () => {
    await withRoot(async (_root, driver) => {
      const catalog = createCatalog(driver);
      const index = createCatalogIndex(driver, { walk: (opts) => catalog.repositories(opts), reconcileAfterMs: 0 });
      await writeForeignRepository(driver, 'first');
      assert.deepEqual(await index.names(), ['first']);
      await writeForeignRepository(driver, 'later');
      // Nothing but catalog requests: the walk they start in the background finds the new repository.
      const deadline = Date.now() + 5000;
      let names = await index.names();
      while (!names.includes('later') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        names = await index.names();
      }
      assert.deepEqual(names, ['first', 'later']);
    });
  });

  it('works on the in-memory driver', async () => {
    const registry = createRegistry({ driver: createInMemoryDriver(), deleteEnabled: false });
    await pushImage(registry.repository(name('b')), { tag: 'v1' });
    await pushBlob(registry.repository(name('a/x')), Buffer.from('x'));
    assert.deepEqual(await registry.catalog(), ['a/x', 'b']);
  });
});
