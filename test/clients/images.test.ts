/**
 * The hand-made test images are what the client tests assume: valid OCI layouts whose gzip'd
 * tar layers umoci unpacks, whose config lists the true diff_ids, and whose index children differ.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { createGunzip } from 'node:zlib';
import {
  createOciLayout,
  fileDigest,
  type ManifestJson,
  OCI_MEDIA_TYPES,
  type OciLayout,
  randomChunks,
  readOciLayout,
} from '../helpers/images.js';
import { run } from '../helpers/tools.js';

describe('test images', () => {
  let work: string;
  let layout: OciLayout;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-images-'));
    layout = await createOciLayout(join(work, 'layout'));
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('layers are gzip’d tars that umoci unpacks into the files asked for', async () => {
    const randomBytes = 3 * 1024 * 1024 + 17;
    const deepPath = `${'deep/'.repeat(30)}file.txt`;
    await layout.addImage({
      tag: 'files',
      layers: [
        { files: { 'hello.txt': 'hello\n', [deepPath]: 'deep\n' } },
        { files: { 'hello.txt': 'replaced\n' }, randomBytes, randomPath: 'opt/random.bin', seed: 'files' },
      ],
    });
    const bundle = join(work, 'bundle');
    await run('umoci', ['unpack', '--image', `${layout.dir}:files`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    assert.equal(await readFile(join(rootfs, 'hello.txt'), 'utf8'), 'replaced\n');
    assert.equal(await readFile(join(rootfs, deepPath), 'utf8'), 'deep\n');
    assert.equal((await stat(join(rootfs, 'opt/random.bin'))).size, randomBytes);

    const expected = createHash('sha256');
    for await (const chunk of randomChunks(randomBytes, 'files')) expected.update(chunk);
    assert.equal(await fileDigest(join(rootfs, 'opt/random.bin')), `sha256:${expected.digest('hex')}`);
  });

  test('the manifest, config and diff_ids describe the blobs exactly', async () => {
    const image = await layout.addImage({
      tag: 'described',
      layers: [{ files: { a: 'a\n' } }, { randomBytes: 1024 * 1024, seed: 'described' }],
    });
    const read = await readOciLayout(layout.dir, 'described');
    assert.equal(read.digest, image.manifest.digest);
    assert.equal(read.mediaType, OCI_MEDIA_TYPES.manifest);
    assert.deepEqual(read.json.config, image.config);
    assert.deepEqual(
      read.json.layers,
      image.layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    );
    const blob = (digest: string): string => join(layout.dir, 'blobs/sha256', digest.slice(7));
    const config = JSON.parse(await readFile(blob(image.config.digest), 'utf8')) as {
      rootfs: { diff_ids: string[] };
    };
    assert.deepEqual(
      config.rootfs.diff_ids,
      image.layers.map((layer) => layer.diffId),
    );
    for (const layer of image.layers) {
      assert.equal((await stat(blob(layer.digest))).size, layer.size);
      const tar = createHash('sha256');
      await pipeline(createReadStream(blob(layer.digest)), createGunzip(), tar);
      assert.equal(`sha256:${tar.digest('hex')}`, layer.diffId);
    }
    // Random data is stored, not compressed: the blob is at least as large as its content.
    assert.ok((image.layers[1]?.size ?? 0) > 1024 * 1024);
  });

  test('an index has one distinct child per platform', async () => {
    const built = await layout.addIndex({ tag: 'multi' });
    const read = await readOciLayout(layout.dir, 'multi');
    assert.equal(read.digest, built.index.digest);
    assert.equal(read.mediaType, OCI_MEDIA_TYPES.index);
    const children = (read.json as ManifestJson).manifests ?? [];
    assert.deepEqual(
      children.map((child) => child.platform),
      [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    );
    const digests = new Set(built.images.flatMap((image) => [image.manifest.digest, image.config.digest]));
    assert.equal(digests.size, 4);
    for (const child of children) assert.ok(read.blobs.has(child.digest));
  });
});
