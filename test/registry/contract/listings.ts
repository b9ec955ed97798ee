/** Tags, referrers and the catalog. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MEDIA_TYPES } from '../../../src/registry/media-types.js';
import {
  content,
  name,
  pushBlob,
  pushImage,
  pushReferrer,
  rejectsWithCode,
  sha256Digest,
  tag,
  type WithEnv,
} from '../fixtures.js';

export function listingsSuite(withEnv: WithEnv): void {
  describe('tags', () => {
    it('lists tags lexically with last/limit pagination', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('paged'));
        const image = await pushImage(repo);
        const names = ['v10', 'v2', 'latest', 'V1', '1.0', 'v1'];
        for (const t of names) await repo.tags().tag(tag(t), image.digest);
        const sorted = ['1.0', 'V1', 'latest', 'v1', 'v10', 'v2'];
        assert.deepEqual(await repo.tags().list(), sorted);
        assert.deepEqual(await repo.tags().list({ limit: 2 }), ['1.0', 'V1']);
        assert.deepEqual(await repo.tags().list({ last: 'V1', limit: 2 }), ['latest', 'v1']);
        assert.deepEqual(await repo.tags().list({ last: 'v10' }), ['v2']);
        assert.deepEqual(await repo.tags().list({ last: 'v2' }), []);
        assert.deepEqual(await repo.tags().list({ limit: 0 }), []);
        assert.deepEqual((await repo.tags().lookup(image.digest)).sort(), sorted);
      }));

    it('fails with NAME_UNKNOWN for a repository that does not exist, and is empty for one without tags', () =>
      withEnv(async ({ registry }) => {
        await rejectsWithCode(registry.repository(name('ghost')).tags().list(), 'NAME_UNKNOWN');
        const repo = registry.repository(name('untagged'));
        await pushBlob(repo, content(10, 50));
        assert.deepEqual(await repo.tags().list(), []);
      }));

    it('moves, looks up and untags', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('moving'));
        const a = await pushImage(repo, { seed: 51, tag: 'latest' });
        const b = await pushImage(repo, { seed: 52 });
        await repo.tags().tag(tag('stable'), a.digest);
        await repo.tags().tag(tag('latest'), b.digest);
        assert.equal(await repo.tags().get(tag('latest')), b.digest);
        assert.deepEqual(await repo.tags().lookup(a.digest), ['stable']);
        assert.deepEqual(await repo.tags().lookup(b.digest), ['latest']);
        await repo.tags().untag(tag('stable'));
        await rejectsWithCode(repo.tags().get(tag('stable')), 'MANIFEST_UNKNOWN');
        await rejectsWithCode(repo.tags().untag(tag('stable')), 'MANIFEST_UNKNOWN');
        // Untagging leaves the manifest in place.
        assert.equal(await repo.manifests().exists(a.digest), true);
      }));

    it('refuses untag when deletes are disabled', () =>
      withEnv(
        async ({ registry }) => {
          const repo = registry.repository(name('sticky'));
          await pushImage(repo, { tag: 'v1' });
          await rejectsWithCode(repo.tags().untag(tag('v1')), 'UNSUPPORTED');
          assert.deepEqual(await repo.tags().list(), ['v1']);
        },
        { deleteEnabled: false },
      ));
  });

  describe('referrers', () => {
    it('lists manifests by subject with artifactType and annotations, filtered on request', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('signed'));
        const image = await pushImage(repo, { tag: 'v1' });
        const subject = { mediaType: MEDIA_TYPES.ociManifest, digest: image.digest, size: image.payload.length };
        const signature = await pushReferrer(repo, subject, {
          artifactType: 'application/vnd.example.signature',
          annotations: { 'org.example.signer': 'alice' },
          seed: 60,
        });
        const sbom = await pushReferrer(repo, subject, {
          configMediaType: 'application/vnd.example.sbom.config',
          seed: 61,
        });
        const unrelated = await pushImage(repo, { seed: 62 });
        assert.deepEqual(await repo.referrers().list(unrelated.digest), []);

        const all = await repo.referrers().list(image.digest);
        const expected = [
          {
            mediaType: MEDIA_TYPES.ociManifest,
            digest: signature.digest,
            size: signature.payload.length,
            artifactType: 'application/vnd.example.signature',
            annotations: { 'org.example.signer': 'alice' },
          },
          {
            mediaType: MEDIA_TYPES.ociManifest,
            digest: sbom.digest,
            size: sbom.payload.length,
            artifactType: 'application/vnd.example.sbom.config',
          },
        ].sort((x, y) => (x.digest < y.digest ? -1 : 1));
        assert.deepEqual(
          [...all].sort((x, y) => (x.digest < y.digest ? -1 : 1)),
          expected,
        );
        assert.deepEqual(
          (await repo.referrers().list(image.digest, { artifactType: 'application/vnd.example.sbom.config' })).map(
            (d) => d.digest,
          ),
          [sbom.digest],
        );
        assert.deepEqual(await repo.referrers().list(image.digest, { artifactType: 'application/none' }), []);
        // Referrers are per repository.
        assert.deepEqual(await registry.repository(name('other')).referrers().list(image.digest), []);

        await repo.manifests().delete(signature.digest);
        assert.deepEqual(
          (await repo.referrers().list(image.digest)).map((d) => d.digest),
          [sbom.digest],
        );
      }));

    it('indexes referrers whose subject was never pushed', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('early'));
        const subject = { mediaType: MEDIA_TYPES.ociManifest, digest: sha256Digest(content(4, 63)), size: 4 };
        const referrer = await pushReferrer(repo, subject, { artifactType: 'application/vnd.example.x' });
        assert.deepEqual(
          (await repo.referrers().list(subject.digest)).map((d) => d.digest),
          [referrer.digest],
        );
      }));
  });

  describe('catalog', () => {
    it('lists nested repositories lexically with pagination', () =>
      withEnv(async ({ registry }) => {
        const names = ['library/ubuntu', 'library/alpine', 'a-b', 'a/b', 'a', 'zeta/x/y/z', 'a.b'];
        for (const [i, n] of names.entries()) await pushBlob(registry.repository(name(n)), content(5, 70 + i));
        // A repository with only an upload in progress is not one yet.
        await registry.repository(name('pending')).uploads().create();
        const sorted = [...names].sort();
        assert.deepEqual(await registry.catalog(), sorted);
        assert.deepEqual(await registry.catalog({ limit: 3 }), sorted.slice(0, 3));
        assert.deepEqual(await registry.catalog({ last: sorted[2], limit: 3 }), sorted.slice(3, 6));
        assert.deepEqual(await registry.catalog({ last: 'zeta/x/y/z' }), []);
      }));

    it('counts manifest-only repositories and is empty on an empty store', () =>
      withEnv(async ({ registry, driver }) => {
        assert.deepEqual(await registry.catalog(), []);
        const image = await pushImage(registry.repository(name('full')));
        // A repository that only has a manifest revision linked (its layers were deleted).
        const repo = registry.repository(name('manifest-only'));
        for (const data of [image.config, ...image.layers]) await repo.blobs().mount(sha256Digest(data), name('full'));
        await repo.manifests().put(image.payload, undefined);
        await driver.delete('/docker/registry/v2/repositories/manifest-only/_layers');
        assert.deepEqual(await registry.catalog(), ['full', 'manifest-only']);
      }));
  });
}
