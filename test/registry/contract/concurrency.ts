/** Racing writers must leave consistent state: every write is an atomic putContent or move. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MEDIA_TYPES } from '../../../src/registry/media-types.js';
import { chunked, content, name, pushImage, readAll, sha256Digest, tag, type WithEnv } from '../fixtures.js';

export function concurrencySuite(withEnv: WithEnv): void {
  describe('concurrency', () => {
    it('ten concurrent commits of the same blob end with one intact blob', () =>
      withEnv(async ({ registry, replica }) => {
        const data = content(100_000, 80);
        const digest = sha256Digest(data);
        const results = await Promise.all(
          Array.from({ length: 10 }, async (_, i) => {
            // Half through another replica, half through this one, in two repositories.
            const reg = i % 2 === 0 ? registry : replica();
            const repo = reg.repository(name(i < 5 ? 'race/one' : 'race/two'));
            const session = await repo.uploads().create();
            await session.append(chunked(data, 8192));
            return session.commit(digest);
          }),
        );
        for (const result of results)
          assert.deepEqual(result, { mediaType: 'application/octet-stream', digest, size: data.length });
        for (const repoName of ['race/one', 'race/two']) {
          const repo = registry.repository(name(repoName));
          assert.equal((await repo.blobs().stat(digest)).size, data.length);
          assert.deepEqual(await readAll((await repo.blobs().open(digest)).stream), data);
        }
      }));

    it('concurrent appends to one session are serialised', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('serial'));
        const session = await repo.uploads().create();
        const parts = Array.from({ length: 5 }, (_, i) => content(1000, 90 + i));
        await Promise.all(parts.map((part) => session.append(chunked(part, 100))));
        assert.equal(session.size, 5000);
        // The per-session lock runs appends in call order, each hashed exactly once.
        const whole = Buffer.concat(parts);
        const descriptor = await (await repo.uploads().resume(session.id)).commit(sha256Digest(whole));
        assert.deepEqual(await readAll((await repo.blobs().open(descriptor.digest)).stream), whole);
      }));

    it('concurrent puts of the same manifest and tag updates end consistent', () =>
      withEnv(async ({ registry, replica }) => {
        const repo = registry.repository(name('tagrace'));
        const images = await Promise.all([81, 82, 83].map((seed) => pushImage(repo, { seed })));
        const first = images[0]!;
        const puts = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            (i % 2 === 0 ? registry : replica())
              .repository(name('tagrace'))
              .manifests()
              .put(first.payload, MEDIA_TYPES.ociManifest, { tag: tag(`t${i % 3}`) }),
          ),
        );
        for (const put of puts) assert.equal(put.digest, first.digest);
        await Promise.all(Array.from({ length: 30 }, (_, i) => repo.tags().tag(tag('moving'), images[i % 3]!.digest)));
        const current = await repo.tags().get(tag('moving'));
        assert.ok(images.some((image) => image.digest === current));
        assert.deepEqual(await repo.tags().list(), ['moving', 't0', 't1', 't2']);
        assert.deepEqual((await repo.manifests().get(first.digest)).payload, first.payload);
      }));
  });
}
