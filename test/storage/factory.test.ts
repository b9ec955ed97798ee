import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createStorageDriver, SUPPORTED_DRIVERS } from '../../src/storage/factory.js';

describe('createStorageDriver', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-factory-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('builds a filesystem driver on the given root', async () => {
    const driver = createStorageDriver({ filesystem: { rootdirectory: dir, maxthreads: 100 } });
    assert.equal(driver.name, 'filesystem');
    await driver.putContent('/a/b', Buffer.from('hi'));
    assert.equal(await readFile(join(dir, 'a', 'b'), 'utf8'), 'hi');
  });

  it('resolves a relative rootdirectory against the working directory', async () => {
    const driver = createStorageDriver({ filesystem: { rootdirectory: relative(process.cwd(), join(dir, 'rel')) } });
    await driver.putContent('/x', Buffer.from('rel'));
    assert.equal(await readFile(join(dir, 'rel', 'x'), 'utf8'), 'rel');
  });

  it('takes directio as a boolean, and refuses anything else', async () => {
    for (const directio of [true, false]) {
      const driver = createStorageDriver({ filesystem: { rootdirectory: join(dir, `direct-${directio}`), directio } });
      const writer = await driver.writer('/upload/data', { append: true });
      const data = Buffer.alloc(9 * 1024 * 1024 + 5, directio ? 1 : 2);
      assert.equal(
        await writer.write([data.subarray(0, 5 * 1024 * 1024), data.subarray(5 * 1024 * 1024)]),
        data.length,
      );
      await writer.commit();
      assert.ok((await driver.getContent('/upload/data')).equals(data));
    }
    assert.throws(
      () => createStorageDriver({ filesystem: { rootdirectory: dir, directio: 'yes' as unknown as boolean } }),
      /directio/,
    );
  });

  it('defaults the filesystem parameters', () => {
    assert.equal(createStorageDriver({ filesystem: null }).name, 'filesystem');
    assert.equal(createStorageDriver({ filesystem: { rootdirectory: '' } }).name, 'filesystem');
  });

  it('builds an inmemory driver with or without parameters', async () => {
    const driver = createStorageDriver({ inmemory: null });
    assert.equal(driver.name, 'inmemory');
    await driver.putContent('/k', Buffer.from('v'));
    assert.equal((await driver.getContent('/k')).toString(), 'v');
    assert.equal(createStorageDriver({ inmemory: {} }).name, 'inmemory');
  });

  it('ignores the non-driver keys of the storage section', () => {
    const driver = createStorageDriver({
      inmemory: {},
      delete: { enabled: true },
      redirect: { disable: true },
      cache: { blobdescriptor: 'inmemory' },
      maintenance: { uploadpurging: { enabled: false } },
      tag: { concurrencylimit: 8 },
    });
    assert.equal(driver.name, 'inmemory');
  });

  it('names the supported drivers', () => {
    assert.deepEqual([...SUPPORTED_DRIVERS].sort(), ['azure', 'filesystem', 'inmemory', 's3']);
  });

  for (const name of ['gcs', 'swift', 'oss']) {
    it(`reports ${name} as not supported yet`, () => {
      assert.throws(() => createStorageDriver({ [name]: { bucket: 'b' } }), {
        message: `storage driver ${name} is not supported yet`,
      });
    });
  }

  it('rejects unknown drivers, none, several and malformed parameters', () => {
    assert.throws(() => createStorageDriver({ floppy: {} }), /unknown storage driver floppy/);
    assert.throws(() => createStorageDriver({}), /no storage driver configured/);
    assert.throws(() => createStorageDriver({ delete: { enabled: true } }), /no storage driver configured/);
    assert.throws(() => createStorageDriver({ filesystem: {}, inmemory: {} }), /exactly one storage driver/);
    assert.throws(
      () => createStorageDriver({ filesystem: { rootdirectory: 42 as unknown as string } }),
      /rootdirectory must be a string/,
    );
    assert.throws(() => createStorageDriver({ inmemory: 'yes' as unknown as null }), /must be a mapping/);
    assert.throws(() => createStorageDriver({ toString: {} }), /unknown storage driver toString/);
  });
});
