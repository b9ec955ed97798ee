/** Manifest put/get/delete for every supported media type, and every way a push is refused. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MEDIA_TYPES } from '../../../src/registry/media-types.js';
import type { Repository } from '../../../src/registry/types.js';
import {
  content,
  descriptorOf,
  imageConfig,
  name,
  pushBlob,
  pushImage,
  readAll,
  rejectsWithCode,
  sha256Digest,
  sha512Digest,
  tag,
  type WithEnv,
} from '../fixtures.js';

/** An index over two freshly pushed images. */
async function pushIndex(repo: Repository, mediaType: string, opts: { withMediaType?: boolean } = {}) {
  const childType = mediaType === MEDIA_TYPES.dockerManifestList ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest;
  const children = [
    await pushImage(repo, { seed: 31, mediaType: childType }),
    await pushImage(repo, { seed: 32, mediaType: childType }),
  ];
  const index: Record<string, unknown> = {
    schemaVersion: 2,
    manifests: children.map((child, i) => ({
      ...descriptorOf(childType, child.payload),
      platform: { architecture: i === 0 ? 'amd64' : 'arm64', os: 'linux' },
    })),
  };
  if (opts.withMediaType !== false) index['mediaType'] = mediaType;
  const payload = Buffer.from(JSON.stringify(index));
  return { payload, children, result: await repo.manifests().put(payload, mediaType, { tag: tag('multi') }) };
}

export function manifestsSuite(withEnv: WithEnv): void {
  describe('manifests', () => {
    for (const mediaType of [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]) {
      it(`stores a ${mediaType} with its exact bytes and digest`, () =>
        withEnv(async ({ registry }) => {
          const repo = registry.repository(name('library/image'));
          const image = await pushImage(repo, { mediaType, tag: 'latest' });
          assert.equal(image.digest, sha256Digest(image.payload));
          const stored = await repo.manifests().get(image.digest);
          assert.deepEqual(stored, { digest: image.digest, mediaType, payload: image.payload });
          assert.equal(await repo.tags().get(tag('latest')), image.digest);
          assert.equal(await repo.manifests().exists(image.digest), true);
          assert.equal(await registry.repository(name('other')).manifests().exists(image.digest), false);
        }));
    }

    for (const mediaType of [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]) {
      it(`stores a ${mediaType} over manifests in the repository`, () =>
        withEnv(async ({ registry }) => {
          const repo = registry.repository(name('multiarch'));
          const { payload, result } = await pushIndex(repo, mediaType);
          assert.deepEqual(result, { digest: sha256Digest(payload), mediaType });
          assert.deepEqual(await repo.manifests().get(result.digest), { digest: result.digest, mediaType, payload });
          assert.equal(await repo.tags().get(tag('multi')), result.digest);
        }));
    }

    it('takes the media type from Content-Type or the structure when the body has none', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('inferred'));
        const config = imageConfig(40);
        await pushBlob(repo, config);
        const payload = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            config: descriptorOf('application/vnd.oci.image.config.v1+json', config),
            layers: [],
          }),
        );
        const result = await repo.manifests().put(payload, 'application/octet-stream');
        assert.equal(result.mediaType, MEDIA_TYPES.ociManifest);
        assert.equal((await repo.manifests().get(result.digest)).mediaType, MEDIA_TYPES.ociManifest);
        const { result: index } = await pushIndex(repo, MEDIA_TYPES.ociIndex, { withMediaType: false });
        assert.equal(index.mediaType, MEDIA_TYPES.ociIndex);
        assert.equal((await repo.manifests().get(index.digest)).mediaType, MEDIA_TYPES.ociIndex);
      }));

    it('accepts artifacts with an empty config and artifactType', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('artifacts'));
        const empty = Buffer.from('{}');
        const blob = content(64, 41);
        await pushBlob(repo, empty);
        await pushBlob(repo, blob);
        const payload = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MEDIA_TYPES.ociManifest,
            artifactType: 'application/vnd.example.sbom',
            config: descriptorOf(MEDIA_TYPES.ociEmpty, empty),
            layers: [descriptorOf('application/spdx+json', blob)],
            annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
          }),
        );
        const result = await repo.manifests().put(payload, `${MEDIA_TYPES.ociManifest}; charset=utf-8`);
        assert.equal(result.mediaType, MEDIA_TYPES.ociManifest);
      }));

    it('returns the subject and does not require it to exist', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('subjects'));
        const empty = Buffer.from('{}');
        await pushBlob(repo, empty);
        const subject = { mediaType: MEDIA_TYPES.ociManifest, digest: sha256Digest(content(5, 42)), size: 5 };
        const payload = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MEDIA_TYPES.ociManifest,
            config: descriptorOf(MEDIA_TYPES.ociEmpty, empty),
            layers: [],
            subject,
          }),
        );
        const result = await repo.manifests().put(payload, MEDIA_TYPES.ociManifest);
        assert.equal(result.subject, subject.digest);
      }));

    it('refuses a body whose mediaType contradicts Content-Type', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('mismatch'));
        const image = await pushImage(repo);
        await rejectsWithCode(repo.manifests().put(image.payload, MEDIA_TYPES.dockerManifest), 'MANIFEST_INVALID');
      }));

    it('refuses schema1, bad JSON, a wrong schemaVersion and malformed descriptors', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('invalid'));
        const schema1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'invalid', tag: 'x', fsLayers: [] }));
        const error = await rejectsWithCode(
          repo.manifests().put(schema1, MEDIA_TYPES.dockerSchema1Signed),
          'MANIFEST_INVALID',
        );
        assert.match(error.message, /schema1/);
        await rejectsWithCode(repo.manifests().put(schema1, undefined), 'MANIFEST_INVALID');
        await rejectsWithCode(repo.manifests().put(Buffer.from('{"schemaVersion": 2,'), undefined), 'MANIFEST_INVALID');
        await rejectsWithCode(repo.manifests().put(Buffer.from('[]'), undefined), 'MANIFEST_INVALID');
        const config = imageConfig(43);
        await pushBlob(repo, config);
        const good = descriptorOf('application/vnd.oci.image.config.v1+json', config);
        const bodies: unknown[] = [
          { schemaVersion: 3, mediaType: MEDIA_TYPES.ociManifest, config: good, layers: [] },
          { schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, layers: [] },
          {
            schemaVersion: 2,
            mediaType: MEDIA_TYPES.ociManifest,
            config: { ...good, digest: 'sha256:xyz' },
            layers: [],
          },
          { schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: { ...good, size: -1 }, layers: [] },
          {
            schemaVersion: 2,
            mediaType: MEDIA_TYPES.ociManifest,
            config: { digest: good.digest, size: good.size },
            layers: [],
          },
          { schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: good, layers: {} },
          { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: 'none' },
          { schemaVersion: 2, mediaType: 'application/vnd.example.unknown+json', config: good, layers: [] },
          { schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: good, layers: [], subject: { digest: 'x' } },
        ];
        for (const body of bodies) {
          await rejectsWithCode(repo.manifests().put(Buffer.from(JSON.stringify(body)), undefined), 'MANIFEST_INVALID');
        }
      }));

    it('refuses a manifest referencing a blob not in the repository', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('missing'));
        const config = imageConfig(44);
        const layer = content(100, 44);
        await pushBlob(repo, config);
        // The layer exists globally, but only in another repository.
        await pushBlob(registry.repository(name('elsewhere')), layer);
        const payload = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MEDIA_TYPES.ociManifest,
            config: descriptorOf('application/vnd.oci.image.config.v1+json', config),
            layers: [descriptorOf('application/vnd.oci.image.layer.v1.tar+gzip', layer)],
          }),
        );
        const error = await rejectsWithCode(repo.manifests().put(payload, undefined), 'MANIFEST_BLOB_UNKNOWN');
        assert.deepEqual(error.detail, { digest: sha256Digest(layer) });
        assert.equal(await repo.manifests().exists(sha256Digest(payload)), false);
      }));

    it('refuses an index whose child is not in the repository', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('orphans'));
        const child = await pushImage(registry.repository(name('elsewhere')));
        const payload = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MEDIA_TYPES.ociIndex,
            manifests: [descriptorOf(MEDIA_TYPES.ociManifest, child.payload)],
          }),
        );
        const error = await rejectsWithCode(repo.manifests().put(payload, undefined), 'MANIFEST_BLOB_UNKNOWN');
        assert.deepEqual(error.detail, { digest: child.digest });
      }));

    it('exempts foreign layers with urls', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('windows'));
        const config = imageConfig(45);
        await pushBlob(repo, config);
        const payload = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MEDIA_TYPES.dockerManifest,
            config: descriptorOf('application/vnd.docker.container.image.v1+json', config),
            layers: [
              {
                mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
                digest: sha256Digest(content(10, 45)),
                size: 10,
                urls: ['https://mcr.microsoft.com/v2/windows/blobs/x'],
              },
            ],
          }),
        );
        assert.equal((await repo.manifests().put(payload, MEDIA_TYPES.dockerManifest)).digest, sha256Digest(payload));
      }));

    it('refuses a manifest over the size limit', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('huge'));
        const payload = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
        await rejectsWithCode(repo.manifests().put(payload, MEDIA_TYPES.ociManifest), 'TOO_LARGE');
      }));

    it('checks an expected digest, sha256 or sha512', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('pinned'));
        const config = imageConfig(46);
        await pushBlob(repo, config);
        const payload = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MEDIA_TYPES.ociManifest,
            config: descriptorOf('application/vnd.oci.image.config.v1+json', config),
            layers: [],
          }),
        );
        await rejectsWithCode(
          repo.manifests().put(payload, undefined, { expectedDigest: sha256Digest(content(3, 46)) }),
          'DIGEST_INVALID',
        );
        assert.equal(await repo.manifests().exists(sha256Digest(payload)), false);
        const sha512 = sha512Digest(payload);
        assert.equal((await repo.manifests().put(payload, undefined, { expectedDigest: sha512 })).digest, sha512);
        assert.deepEqual((await repo.manifests().get(sha512)).payload, payload);
        const sha256 = sha256Digest(payload);
        assert.equal((await repo.manifests().put(payload, undefined, { expectedDigest: sha256 })).digest, sha256);
      }));

    it('get of an unknown manifest fails', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('nothing'));
        await rejectsWithCode(repo.manifests().get(sha256Digest(content(1, 47))), 'MANIFEST_UNKNOWN');
      }));

    it('delete removes the revision and every tag pointing at it', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('deleting'));
        const a = await pushImage(repo, { seed: 48, tag: 'one' });
        await repo.tags().tag(tag('two'), a.digest);
        const b = await pushImage(repo, { seed: 49, tag: 'other' });
        await repo.manifests().delete(a.digest);
        await rejectsWithCode(repo.manifests().get(a.digest), 'MANIFEST_UNKNOWN');
        assert.equal(await repo.manifests().exists(a.digest), false);
        await rejectsWithCode(repo.tags().get(tag('one')), 'MANIFEST_UNKNOWN');
        assert.deepEqual(await repo.tags().list(), ['other']);
        assert.equal(await repo.tags().get(tag('other')), b.digest);
        await rejectsWithCode(repo.manifests().delete(a.digest), 'MANIFEST_UNKNOWN');
        // The layers stay linked: only garbage collection removes blobs.
        assert.equal((await repo.blobs().stat(sha256Digest(a.config))).size, a.config.length);
        await rejectsWithCode(repo.blobs().stat(a.digest), 'BLOB_UNKNOWN');
      }));

    it('refuses manifest deletes when deletes are disabled', () =>
      withEnv(
        async ({ registry }) => {
          const repo = registry.repository(name('kept'));
          const image = await pushImage(repo, { tag: 'v1' });
          await rejectsWithCode(repo.manifests().delete(image.digest), 'UNSUPPORTED');
          assert.deepEqual(await readAll((await repo.blobs().open(image.digest)).stream), image.payload);
        },
        { deleteEnabled: false },
      ));
  });
}
