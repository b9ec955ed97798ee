import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StorageDriver } from '../../src/storage/driver.js';
import { createFilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { InvalidPathError, PathNotFoundError } from '../../src/storage/errors.js';
import { bytes, collect, walkPaths } from './contract/harness.js';
import { runDriverContract } from './driver-contract.js';

const roots = new WeakMap<StorageDriver, string>();

// The same contract in batch mode, where scans read with synchronous calls (a local disk here).
for (const batch of [false, true]) {
  runDriverContract(
    batch ? 'filesystem (batch)' : 'filesystem',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'berth-fs-contract-'));
      const driver = createFilesystemDriver({ rootdirectory: root, batch });
      roots.set(driver, root);
      return driver;
    },
    async (driver) => {
      const root = roots.get(driver);
      if (root !== undefined) await rm(root, { recursive: true, force: true });
    },
  );
}

/** Every file below `dir` (relative), including hidden ones, sorted. */
async function filesBelow(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

describe('filesystem driver', () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'berth-fs-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  async function freshRoot(name: string): Promise<{ root: string; driver: StorageDriver }> {
    const root = join(base, name, 'root');
    await mkdir(root, { recursive: true });
    return { root, driver: createFilesystemDriver({ rootdirectory: root }) };
  }

  it('never lets a path escape the root', async () => {
    const { root, driver } = await freshRoot('escape');
    const outside = join(root, '..');
    await writeFile(join(outside, 'secret'), 'secret');
    await driver.putContent('/inside/file', bytes('inside'));
    const hostile = [
      '/../secret',
      '/..',
      '/../../../../../../etc/passwd',
      '/inside/../../secret',
      '/./../secret',
      '../secret',
      '..',
      'secret',
      '/inside/..',
      '/inside/./../..',
      '/..\\secret',
      '/%2e%2e/secret',
      '/..%2fsecret',
      '/\u2024\u2024/secret',
      '/inside\0/../../secret',
      '//secret',
      `/${'../'.repeat(40)}secret`,
      '/inside/../../root/../secret',
      '/~/secret',
      '/$HOME',
    ];
    const before = await filesBelow(outside);
    for (const path of hostile) {
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['getContent', async () => driver.getContent(path)],
        ['putContent', async () => driver.putContent(path, bytes('pwned'))],
        ['reader', async () => driver.reader(path)],
        ['writer', async () => (await driver.writer(path)).commit()],
        ['writer(append)', async () => (await driver.writer(path, { append: true })).commit()],
        ['stat', async () => driver.stat(path)],
        ['list', async () => driver.list(path)],
        ['move from', async () => driver.move(path, '/stolen')],
        ['move to', async () => driver.move('/inside/file', path)],
        ['delete', async () => driver.delete(path)],
        ['walk', async () => collect(driver.walk(path))],
        ['walk startAfter', async () => collect(driver.walk('/', { startAfter: path }))],
      ];
      for (const [method, call] of calls) {
        await assert.rejects(call(), InvalidPathError, `${method}(${JSON.stringify(path)})`);
      }
    }
    assert.deepEqual(await filesBelow(outside), before);
    assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'secret');
    assert.equal((await driver.getContent('/inside/file')).toString(), 'inside');
    // A host path is just a driver path: it names something below the root, never the host file.
    await assert.rejects(driver.getContent(`${outside}/secret`), PathNotFoundError);
    // '...' is an ordinary name, confined to the root like any other.
    await driver.putContent('/.../x', bytes('dots'));
    assert.equal(await readFile(join(root, '...', 'x'), 'utf8'), 'dots');
  });

  it('hides temp files from list and walk, and leaves none behind', async () => {
    const { root, driver } = await freshRoot('temp');
    await driver.putContent('/d/a', bytes('a'));
    const pending = await driver.writer('/d/pending');
    await pending.write([bytes('data')]);
    await writeFile(join(root, 'd', '.stray.0123456789abcdef.tmp'), 'left by a crash');
    assert.deepEqual(await driver.list('/d'), ['/d/a']);
    assert.deepEqual(await walkPaths(driver, '/'), ['/d', '/d/a']);
    assert.equal((await readdir(join(root, 'd'))).length, 3, 'the pending write lives in a temp file');

    await pending.commit();
    assert.deepEqual(await driver.list('/d'), ['/d/a', '/d/pending']);
    const cancelled = await driver.writer('/d/cancelled');
    await cancelled.write([bytes('x')]);
    await cancelled.cancel();
    const closed = await driver.writer('/d/closed');
    await closed.close();
    await driver.putContent('/d/a', bytes('again'));
    assert.deepEqual(await readdir(join(root, 'd')).then((names) => names.sort()), [
      '.stray.0123456789abcdef.tmp',
      'a',
      'pending',
    ]);
  });

  it('uses the registry:2 on-disk layout', async () => {
    const { root, driver } = await freshRoot('layout');
    const link = '/docker/registry/v2/repositories/library/alpine/_manifests/tags/latest/current/link';
    const digest = `sha256:${'ab'.repeat(32)}`;
    await driver.putContent(link, bytes(digest));
    assert.equal(await readFile(join(root, ...link.split('/')), 'utf8'), digest);

    // A blob as registry:2 left it is readable through the driver.
    const blobDir = join(root, 'docker/registry/v2/blobs/sha256/cd', 'cd'.repeat(32));
    await mkdir(blobDir, { recursive: true });
    await writeFile(join(blobDir, 'data'), 'layer bytes');
    const blobPath = `/docker/registry/v2/blobs/sha256/cd/${'cd'.repeat(32)}/data`;
    assert.equal((await driver.getContent(blobPath)).toString(), 'layer bytes');
    assert.equal((await driver.stat(blobPath)).size, 11);
    assert.deepEqual(await driver.list('/docker/registry/v2/blobs/sha256'), ['/docker/registry/v2/blobs/sha256/cd']);
  });

  it('treats a missing root directory as an empty store and creates it on first write', async () => {
    const root = join(base, 'missing', 'root');
    const driver = createFilesystemDriver({ rootdirectory: root });
    assert.deepEqual(await driver.list('/'), []);
    assert.equal((await driver.stat('/')).isDir, true);
    assert.deepEqual(await walkPaths(driver, '/'), []);
    await driver.putContent('/first', bytes('x'));
    assert.equal((await stat(join(root, 'first'))).size, 1);
  });

  it('truncates an uncommitted appended tail on disk', async () => {
    const { root, driver } = await freshRoot('append');
    await driver.putContent('/up/data', bytes('committed'));
    const w = await driver.writer('/up/data', { append: true });
    await w.write([bytes('-tail')]);
    assert.equal((await stat(join(root, 'up', 'data'))).size, 14, 'appends go straight to the file');
    await w.close();
    assert.equal(await readFile(join(root, 'up', 'data'), 'utf8'), 'committed');
  });
});
