/** The in-process building blocks: LRU map, descriptor cache, keyed mutex, manifest description. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryDescriptorCache } from '../../src/registry/descriptor-cache.js';
import { createKeyedMutex } from '../../src/registry/locks.js';
import { createLruMap } from '../../src/registry/lru.js';
import { describeManifest } from '../../src/registry/manifest-validation.js';
import { MEDIA_TYPES } from '../../src/registry/media-types.js';
import { content, sha256Digest } from './fixtures.js';

describe('lru map', () => {
  it('evicts the least recently used entry', () => {
    const lru = createLruMap<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    assert.equal(lru.get('a'), 1);
    lru.set('c', 3);
    assert.equal(lru.get('b'), undefined);
    assert.equal(lru.get('a'), 1);
    assert.equal(lru.get('c'), 3);
    assert.equal(lru.size, 2);
    assert.throws(() => createLruMap(0), RangeError);
  });
});

describe('memory descriptor cache', () => {
  it('remembers sizes up to its bound and forgets on delete', async () => {
    const cache = createMemoryDescriptorCache({ maxEntries: 2 });
    const [x, y, z] = [1, 2, 3].map((seed) => sha256Digest(content(4, seed))) as [
      ReturnType<typeof sha256Digest>,
      ReturnType<typeof sha256Digest>,
      ReturnType<typeof sha256Digest>,
    ];
    await cache.set(x, 10);
    await cache.set(y, 0);
    assert.equal(await cache.get(y), 0);
    await cache.set(z, 30);
    assert.equal(await cache.get(x), undefined);
    await cache.delete(z);
    assert.equal(await cache.get(z), undefined);
    assert.equal(await cache.get(y), 0);
  });
});

describe('keyed mutex', () => {
  it('serialises one key in call order, keeps keys independent and survives failures', async () => {
    const mutex = createKeyedMutex();
    const events: string[] = [];
    let releaseFirst!: () => void;
    const gate = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const first = mutex.run('k', async () => {
      events.push('first start');
      await gate;
      events.push('first end');
      throw new Error('boom');
    });
    const second = mutex.run('k', async () => {
      events.push('second');
      return 2;
    });
    const other = await mutex.run('other', async () => {
      events.push('other');
      return 'independent';
    });
    assert.equal(other, 'independent');
    releaseFirst();
    await assert.rejects(first, /boom/);
    assert.equal(await second, 2);
    assert.deepEqual(events, ['first start', 'other', 'first end', 'second']);
  });
});

describe('stored manifest description', () => {
  it('derives media types the way distribution does', () => {
    const describe = (doc: unknown) => describeManifest(Buffer.from(JSON.stringify(doc)));
    assert.equal(describe({ schemaVersion: 2, config: {}, layers: [] }).mediaType, MEDIA_TYPES.ociManifest);
    assert.equal(describe({ schemaVersion: 2, manifests: [] }).mediaType, MEDIA_TYPES.ociIndex);
    assert.equal(
      describe({ schemaVersion: 2, mediaType: MEDIA_TYPES.dockerManifest }).mediaType,
      MEDIA_TYPES.dockerManifest,
    );
    assert.equal(describe({ schemaVersion: 1, signatures: [] }).mediaType, MEDIA_TYPES.dockerSchema1Signed);
    assert.equal(describe({ schemaVersion: 1 }).mediaType, MEDIA_TYPES.dockerSchema1);
    assert.deepEqual(
      describe({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: 'application/vnd.example.config' },
        annotations: { a: 'b' },
      }),
      { mediaType: MEDIA_TYPES.ociManifest, artifactType: 'application/vnd.example.config', annotations: { a: 'b' } },
    );
  });
});
