/** The filesystem driver's stat-validated cache of small files. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { StorageDriver } from '../../src/storage/driver.js';
import { createFilesystemDriver } from '../../src/storage/drivers/filesystem.js';

async function withDriver(fn: (root: string, driver: StorageDriver) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'berth-content-cache-'));
  try {
    await fn(root, createFilesystemDriver({ rootdirectory: root }));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const old = new Date(Date.now() - 60_000);
const older = new Date(Date.now() - 120_000);

describe('filesystem content cache', () => {
  it('serves a settled file from memory while its inode, size and mtime are unchanged', async () => {
    await withDriver(async (root, driver) => {
      const file = join(root, 'link');
      await writeFile(file, 'sha256:aaaa');
      await utimes(file, old, old);
      assert.equal((await driver.getContent('/link')).toString(), 'sha256:aaaa');
      // Changed in place with size and mtime restored: only a cache can still answer the old bytes.
      await writeFile(file, 'sha256:bbbb');
      await utimes(file, old, old);
      assert.equal((await driver.getContent('/link')).toString(), 'sha256:aaaa');
      // Any change of mtime (every real write makes one) is seen.
      await utimes(file, older, older);
      assert.equal((await driver.getContent('/link')).toString(), 'sha256:bbbb');
    });
  });

  it('sees a file replaced by rename, and a removed file', async () => {
    await withDriver(async (root, driver) => {
      const file = join(root, 'link');
      await writeFile(file, 'first');
      await utimes(file, old, old);
      assert.equal((await driver.getContent('/link')).toString(), 'first');
      await writeFile(join(root, 'tmp'), 'other');
      await utimes(join(root, 'tmp'), old, old);
      await rename(join(root, 'tmp'), file);
      assert.equal((await driver.getContent('/link')).toString(), 'other');
      await rm(file);
      await assert.rejects(driver.getContent('/link'), { name: 'PathNotFoundError' });
    });
  });

  it('never trusts a file written moments ago, whose mtime may not change on the next write', async () => {
    await withDriver(async (root, driver) => {
      const file = join(root, 'tag');
      const recent = new Date();
      await writeFile(file, 'one');
      await utimes(file, recent, recent);
      assert.equal((await driver.getContent('/tag')).toString(), 'one');
      await writeFile(file, 'two');
      await utimes(file, recent, recent);
      assert.equal((await driver.getContent('/tag')).toString(), 'two');
    });
  });

  it('still applies maxBytes to cached files', async () => {
    await withDriver(async (root, driver) => {
      const file = join(root, 'big');
      await writeFile(file, Buffer.alloc(100));
      await utimes(file, old, old);
      assert.equal((await driver.getContent('/big')).length, 100);
      await assert.rejects(driver.getContent('/big', { maxBytes: 10 }), { name: 'ContentTooLargeError' });
    });
  });

  it('serves a settled directory listing from memory until an entry is added or removed', async () => {
    await withDriver(async (root, driver) => {
      const dir = join(root, 'tags');
      await mkdir(join(dir, 'a'), { recursive: true });
      await utimes(dir, old, old);
      assert.deepEqual(await driver.list('/tags'), ['/tags/a']);
      // An entry added with the directory's mtime put back: only a cache still lists the old state.
      await mkdir(join(dir, 'b'));
      await utimes(dir, old, old);
      assert.deepEqual(await driver.list('/tags'), ['/tags/a']);
      await utimes(dir, older, older);
      assert.deepEqual(await driver.list('/tags'), ['/tags/a', '/tags/b']);
      await rm(join(dir, 'a'), { recursive: true });
      assert.deepEqual(await driver.list('/tags'), ['/tags/b']);
      await rm(dir, { recursive: true });
      await assert.rejects(driver.list('/tags'), { name: 'PathNotFoundError' });
    });
  });

  it('never trusts the listing of a directory changed moments ago', async () => {
    await withDriver(async (root, driver) => {
      const dir = join(root, 'tags');
      const recent = new Date();
      await mkdir(join(dir, 'a'), { recursive: true });
      await utimes(dir, recent, recent);
      assert.deepEqual(await driver.list('/tags'), ['/tags/a']);
      await mkdir(join(dir, 'b'));
      await utimes(dir, recent, recent);
      assert.deepEqual(await driver.list('/tags'), ['/tags/a', '/tags/b']);
    });
  });
});
