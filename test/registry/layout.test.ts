/** The exact on-disk layout written through the services, as registry:2 (distribution 2.8) reads it. */
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { MEDIA_TYPES } from '../../src/registry/media-types.js';
import { digestHex } from '../../src/registry/names.js';
import { createRegistry } from '../../src/registry/registry.js';
import { createFilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { chunked, content, createTempDir, name, pushImage, pushReferrer, sha256Digest, tag } from './fixtures.js';

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const path = relative(root, join(entry.parentPath, entry.name));
    // Berth's own derived indexes (registry:2 never reads `_berth/`) are not part of distribution's layout.
    if (entry.isFile() && !path.startsWith('docker/registry/v2/_berth/')) out.push(path);
  }
  return out.sort();
}

describe('on-disk layout', () => {
  it('matches distribution file for file after a push', async () => {
    const root = await createTempDir('berth-layout-');
    try {
      const registry = createRegistry({ driver: createFilesystemDriver({ rootdirectory: root }), deleteEnabled: true });
      const repo = registry.repository(name('library/app'));
      const image = await pushImage(repo, { tag: 'v1' });
      const next = await pushImage(repo, { seed: 2 });
      await repo.tags().tag(tag('v1'), next.digest);
      const subject = { mediaType: MEDIA_TYPES.ociManifest, digest: image.digest, size: image.payload.length };
      const referrer = await pushReferrer(repo, subject, { artifactType: 'application/vnd.example.sig' });
      const pending = await repo.uploads().create();
      await pending.append(chunked(content(10, 3)));

      const v2 = 'docker/registry/v2';
      const blob = (data: Uint8Array) => {
        const hex = digestHex(sha256Digest(data));
        return `${v2}/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
      };
      const r = `${v2}/repositories/library/app`;
      const layers = [image.config, ...image.layers, next.config, ...next.layers];
      const referrerBlobs = [Buffer.from('{}'), content(100, 99)];
      const manifests = [image.payload, next.payload, referrer.payload];
      const expected = new Map<string, string | Buffer>();
      for (const data of [...layers, ...referrerBlobs, ...manifests]) expected.set(blob(data), Buffer.from(data));
      for (const data of [...layers, ...referrerBlobs]) {
        const digest = sha256Digest(data);
        expected.set(`${r}/_layers/sha256/${digestHex(digest)}/link`, digest);
      }
      for (const data of manifests) {
        const digest = sha256Digest(data);
        expected.set(`${r}/_manifests/revisions/sha256/${digestHex(digest)}/link`, digest);
      }
      expected.set(`${r}/_manifests/tags/v1/current/link`, next.digest);
      expected.set(`${r}/_manifests/tags/v1/index/sha256/${digestHex(image.digest)}/link`, image.digest);
      expected.set(`${r}/_manifests/tags/v1/index/sha256/${digestHex(next.digest)}/link`, next.digest);
      expected.set(
        `${r}/_referrers/sha256/${digestHex(image.digest)}/sha256/${digestHex(referrer.digest)}/link`,
        referrer.digest,
      );
      const uploadData = `${r}/_uploads/${pending.id}/data`;
      const startedAt = `${r}/_uploads/${pending.id}/startedat`;
      expected.set(uploadData, content(10, 3));

      assert.deepEqual(await listFiles(root), [...expected.keys(), startedAt].sort());
      for (const [path, want] of expected) {
        const got = await readFile(join(root, path));
        // Links are the digest exactly, with no trailing newline.
        assert.deepEqual(got, Buffer.isBuffer(want) ? want : Buffer.from(want, 'utf8'), path);
      }
      const started = (await readFile(join(root, startedAt))).toString('utf8');
      assert.match(started, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(new Date(started).getTime(), pending.startedAt.getTime());
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
