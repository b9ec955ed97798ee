/** Blob stat, ranged open, mount and delete through a repository's links. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRegistry } from '../../../src/registry/registry.js';
import type { StorageDriver } from '../../../src/storage/driver.js';
import {
  content,
  inMemoryFactory,
  name,
  pushBlob,
  pushImage,
  readAll,
  rejectsWithCode,
  sha256Digest,
  type WithEnv,
} from '../fixtures.js';

/** Counts driver calls by method, leaving behaviour untouched. */
function counting(driver: StorageDriver): { driver: StorageDriver; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const wrapped = new Proxy(driver, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(String(property), (calls.get(String(property)) ?? 0) + 1);
        return value.apply(target, args);
      };
    },
  });
  return { driver: wrapped, calls };
}

export function blobsSuite(withEnv: WithEnv): void {
  describe('blobs', () => {
    it('stats and opens byte ranges', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('ranges'));
        const data = content(10_000, 11);
        const { digest } = await pushBlob(repo, data);
        assert.deepEqual(await repo.blobs().stat(digest), {
          mediaType: 'application/octet-stream',
          digest,
          size: 10_000,
        });
        const middle = await repo.blobs().open(digest, { offset: 1234, length: 4321 });
        assert.equal(middle.offset, 1234);
        assert.equal(middle.length, 4321);
        assert.equal(middle.descriptor.size, 10_000);
        assert.deepEqual(await readAll(middle.stream), data.subarray(1234, 1234 + 4321));
        const tail = await repo.blobs().open(digest, { offset: 9000 });
        assert.equal(tail.length, 1000);
        assert.deepEqual(await readAll(tail.stream), data.subarray(9000));
        const none = await repo.blobs().open(digest, { offset: 10_000 });
        assert.deepEqual(await readAll(none.stream), Buffer.alloc(0));
        await rejectsWithCode(repo.blobs().open(digest, { offset: 9000, length: 2000 }), 'RANGE_INVALID');
      }));

    it('is invisible in repositories that do not link it', () =>
      withEnv(async ({ registry }) => {
        const data = content(100, 12);
        const { digest } = await pushBlob(registry.repository(name('owner')), data);
        await rejectsWithCode(registry.repository(name('stranger')).blobs().stat(digest), 'BLOB_UNKNOWN');
        await rejectsWithCode(registry.repository(name('stranger')).blobs().open(digest), 'BLOB_UNKNOWN');
      }));

    it('serves a manifest through the blobs endpoint', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('manifest-as-blob'));
        const image = await pushImage(repo);
        const descriptor = await repo.blobs().stat(image.digest);
        assert.equal(descriptor.size, image.payload.length);
        assert.deepEqual(await readAll((await repo.blobs().open(image.digest)).stream), image.payload);
      }));

    it('open with a known size does not stat storage again', async () => {
      const handle = await inMemoryFactory();
      try {
        const { driver, calls } = counting(handle.driver);
        const registry = createRegistry({ driver, deleteEnabled: false });
        const repo = registry.repository(name('hot'));
        const data = content(4096, 13);
        const { digest } = await pushBlob(repo, data);
        calls.clear();
        // A fresh registry has an empty cache, like a request served by another replica.
        const cold = createRegistry({ driver, deleteEnabled: false }).repository(name('hot'));
        const opened = await cold.blobs().open(digest, { size: 4096, offset: 96 });
        assert.deepEqual(await readAll(opened.stream), data.subarray(96));
        assert.deepEqual(Object.fromEntries(calls), { reader: 1 });
      } finally {
        await handle.cleanup();
      }
    });

    it('mounts from a named repository', () =>
      withEnv(async ({ registry }) => {
        const data = content(800, 14);
        const { digest } = await pushBlob(registry.repository(name('source')), data);
        const target = registry.repository(name('target'));
        assert.equal(await target.blobs().mount(digest, name('elsewhere')), undefined);
        assert.equal(await target.blobs().mount(sha256Digest(content(8, 1)), name('source')), undefined);
        await rejectsWithCode(target.blobs().stat(digest), 'BLOB_UNKNOWN');
        const mounted = await target.blobs().mount(digest, name('source'));
        assert.deepEqual(mounted, { mediaType: 'application/octet-stream', digest, size: 800 });
        assert.deepEqual(await readAll((await target.blobs().open(digest)).stream), data);
      }));

    it('mounts from any repository when no source is named', () =>
      withEnv(async ({ registry }) => {
        const data = content(900, 15);
        const { digest } = await pushBlob(registry.repository(name('deep/nested/source')), data);
        const target = registry.repository(name('target'));
        assert.equal(await target.blobs().mount(sha256Digest(content(9, 2)), undefined), undefined);
        assert.equal((await target.blobs().mount(digest, undefined))?.size, 900);
        assert.equal((await target.blobs().stat(digest)).size, 900);
      }));

    it('deletes only the repository link', () =>
      withEnv(async ({ registry }) => {
        const data = content(300, 16);
        const a = registry.repository(name('a'));
        const b = registry.repository(name('b'));
        const { digest } = await pushBlob(a, data);
        await b.blobs().mount(digest, name('a'));
        await a.blobs().delete(digest);
        await rejectsWithCode(a.blobs().stat(digest), 'BLOB_UNKNOWN');
        await rejectsWithCode(a.blobs().delete(digest), 'BLOB_UNKNOWN');
        assert.equal((await b.blobs().stat(digest)).size, 300);
      }));

    it('refuses deletes when they are disabled', () =>
      withEnv(
        async ({ registry }) => {
          const repo = registry.repository(name('keep'));
          const { digest } = await pushBlob(repo, content(10, 17));
          await rejectsWithCode(repo.blobs().delete(digest), 'UNSUPPORTED');
          assert.equal((await repo.blobs().stat(digest)).size, 10);
        },
        { deleteEnabled: false },
      ));
  });
}
