/**
 * skopeo (containers/image) against a real Berth: OCI and Docker schema2 pushes, multi-arch
 * indexes, a 100 MiB layer, inspect, list-tags, delete and cross-repository blob mounts — with
 * every manifest, config and layer digest compared end to end.
 */
import assert from 'node:assert/strict';
import { access, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type BuiltImage,
  createOciLayout,
  DOCKER_MEDIA_TYPES,
  type ManifestJson,
  MIB_100,
  OCI_MEDIA_TYPES,
  type OciLayout,
  readDirCopy,
  readOciLayout,
  smallLayers,
} from '../helpers/images.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { CommandError, inspectRaw, skopeo } from '../helpers/tools.js';

const TIMEOUT = { timeout: 180_000 };

function host(server: TestServer): string {
  return new URL(server.url).host;
}

function layerDigests(json: ManifestJson): string[] {
  return (json.layers ?? []).map((layer) => layer.digest);
}

/** The manifest Berth serves for `ref` has the image's config and layers, byte-identical blobs. */
function assertSameContent(json: ManifestJson, image: BuiltImage, layerMediaType: string): void {
  assert.equal(json.config?.digest, image.config.digest);
  assert.equal(json.config?.size, image.config.size);
  assert.deepEqual(
    layerDigests(json),
    image.layers.map((layer) => layer.digest),
  );
  assert.deepEqual(
    json.layers?.map((layer) => [layer.mediaType, layer.size]),
    image.layers.map((layer) => [layerMediaType, layer.size]),
  );
}

describe('skopeo against Berth', () => {
  let server: TestServer;
  let work: string;
  let layout: OciLayout;
  let small: BuiltImage;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-skopeo-'));
    layout = await createOciLayout(join(work, 'src'));
    small = await layout.addImage({ tag: 'small', layers: smallLayers('small') });
    server = await startTestServer({ storage: { delete: { enabled: true } } });
  });

  after(async () => {
    await server?.close();
    await rm(work, { recursive: true, force: true });
  });

  test('copies an OCI image in and back out with every digest intact', TIMEOUT, async () => {
    const ref = `docker://${host(server)}/clients/oci:1`;
    await skopeo('copy', [layout.ref('small'), ref]);

    const served = await inspectRaw(ref);
    assert.equal(served.digest, small.manifest.digest);
    const json = served.json as ManifestJson;
    assert.equal(json.mediaType, OCI_MEDIA_TYPES.manifest);
    assertSameContent(json, small, OCI_MEDIA_TYPES.layer);

    const out = join(work, 'oci-out');
    await skopeo('copy', [ref, `oci:${out}:copy`]);
    const copied = await readOciLayout(out, 'copy');
    assert.equal(copied.digest, small.manifest.digest);
    for (const digest of [small.config.digest, ...layerDigests(json)]) assert.ok(copied.blobs.has(digest), digest);

    // The tag is where distribution's layout says it is.
    const link = join(server.registryRoot, 'repositories/clients/oci/_manifests/tags/1/current/link');
    assert.equal(await readFile(link, 'utf8'), small.manifest.digest);
  });

  test('pushes Docker schema2 (--format v2s2) and serves it back unchanged', TIMEOUT, async () => {
    const ref = `docker://${host(server)}/clients/v2s2:1`;
    const digestFile = join(work, 'v2s2.digest');
    await skopeo('copy', ['--format', 'v2s2', '--digestfile', digestFile, layout.ref('small'), ref]);
    const pushed = await readFile(digestFile, 'utf8');

    const served = await inspectRaw(ref);
    assert.equal(served.digest, pushed);
    assert.notEqual(served.digest, small.manifest.digest, 'the conversion must produce a new manifest');
    const json = served.json as ManifestJson;
    assert.equal(json.mediaType, DOCKER_MEDIA_TYPES.manifest);
    assert.equal(json.config?.mediaType, DOCKER_MEDIA_TYPES.config);
    assertSameContent(json, small, DOCKER_MEDIA_TYPES.layer);

    const out = join(work, 'v2s2-dir');
    await skopeo('copy', [ref, `dir:${out}`]);
    const copied = await readDirCopy(out);
    assert.equal(copied.digest, pushed);
    assert.equal(copied.mediaType, DOCKER_MEDIA_TYPES.manifest);
    for (const digest of [small.config.digest, ...layerDigests(json)]) assert.ok(copied.blobs.has(digest), digest);

    // By digest too, with the Content-Type a Docker client expects.
    const byDigest = await fetch(`${server.url}/v2/clients/v2s2/manifests/${pushed}`, {
      headers: { accept: DOCKER_MEDIA_TYPES.manifest },
    });
    assert.equal(byDigest.status, 200);
    assert.equal(byDigest.headers.get('content-type'), DOCKER_MEDIA_TYPES.manifest);
    assert.equal(byDigest.headers.get('docker-content-digest'), pushed);
    assert.deepEqual(Buffer.from(await byDigest.arrayBuffer()), served.bytes);
  });

  test('copies a multi-arch index with --all and picks platforms on pull', TIMEOUT, async () => {
    const multi = await layout.addIndex({ tag: 'multi', layers: smallLayers('multi') });
    const ref = `docker://${host(server)}/clients/multi:1`;
    await skopeo('copy', ['--all', layout.ref('multi'), ref]);

    const served = await inspectRaw(ref);
    assert.equal(served.digest, multi.index.digest);
    const json = served.json as ManifestJson;
    assert.equal(json.mediaType, OCI_MEDIA_TYPES.index);
    assert.deepEqual(
      json.manifests?.map((entry) => [entry.digest, entry.platform?.architecture]),
      multi.images.map((image) => [image.manifest.digest, image.platform.architecture]),
    );
    for (const image of multi.images) {
      const child = await inspectRaw(`docker://${host(server)}/clients/multi@${image.manifest.digest}`);
      assert.equal(child.digest, image.manifest.digest);
      assertSameContent(child.json as ManifestJson, image, OCI_MEDIA_TYPES.layer);
    }

    const out = join(work, 'multi-out');
    await skopeo('copy', ['--all', ref, `oci:${out}:all`]);
    const copied = await readOciLayout(out, 'all');
    assert.equal(copied.digest, multi.index.digest);
    for (const image of multi.images) {
      for (const digest of [image.manifest.digest, image.config.digest, ...image.layers.map((l) => l.digest)]) {
        assert.ok(copied.blobs.has(digest), digest);
      }
    }

    const arm64 = multi.images.find((image) => image.platform.architecture === 'arm64');
    assert.ok(arm64);
    await skopeo('copy', ['--override-arch', 'arm64', '--override-os', 'linux', ref, `oci:${out}:arm64`]);
    assert.equal((await readOciLayout(out, 'arm64')).digest, arm64.manifest.digest);
  });

  test('round-trips a 100 MiB layer', { timeout: 300_000 }, async () => {
    const bigLayout = await createOciLayout(join(work, 'big-src'));
    const big = await bigLayout.addImage({ tag: 'big', layers: [{ randomBytes: MIB_100, seed: 'skopeo-big' }] });
    const layer = big.layers[0];
    assert.ok(layer !== undefined && layer.size > MIB_100);

    const ref = `docker://${host(server)}/clients/big:1`;
    await skopeo('copy', [bigLayout.ref('big'), ref]);
    assert.equal((await inspectRaw(ref)).digest, big.manifest.digest);
    const data = join(server.registryRoot, 'blobs/sha256', layer.digest.slice(7, 9), layer.digest.slice(7), 'data');
    assert.equal((await stat(data)).size, layer.size);

    const out = join(work, 'big-dir');
    await skopeo('copy', [ref, `dir:${out}`]);
    const copied = await readDirCopy(out);
    assert.equal(copied.digest, big.manifest.digest);
    assert.ok(copied.blobs.has(layer.digest));
    assert.equal((await stat(join(out, layer.digest.slice(7)))).size, layer.size);
    await rm(join(work, 'big-src'), { recursive: true, force: true });
    await rm(out, { recursive: true, force: true });
  });

  test('inspect and list-tags describe what was pushed', TIMEOUT, async () => {
    const repo = `${host(server)}/clients/tags`;
    for (const tag of ['b', 'a', '1.0', 'latest'])
      await skopeo('copy', [layout.ref('small'), `docker://${repo}:${tag}`]);

    const { stdout } = await skopeo('list-tags', [`docker://${repo}`]);
    const listed = JSON.parse(stdout) as { Repository: string; Tags: string[] };
    assert.equal(listed.Repository, repo);
    assert.deepEqual([...listed.Tags].sort(), ['1.0', 'a', 'b', 'latest']);

    const inspected = JSON.parse((await skopeo('inspect', [`docker://${repo}:a`])).stdout) as {
      Digest: string;
      Architecture: string;
      Os: string;
      Layers: string[];
      RepoTags: string[];
    };
    assert.equal(inspected.Digest, small.manifest.digest);
    assert.equal(inspected.Architecture, 'amd64');
    assert.equal(inspected.Os, 'linux');
    assert.deepEqual(
      inspected.Layers,
      small.layers.map((layer) => layer.digest),
    );
    assert.deepEqual([...inspected.RepoTags].sort(), ['1.0', 'a', 'b', 'latest']);

    const config = JSON.parse((await skopeo('inspect', ['--config', `docker://${repo}:a`])).stdout) as {
      rootfs: { diff_ids: string[] };
    };
    assert.deepEqual(
      config.rootfs.diff_ids,
      small.layers.map((layer) => layer.diffId),
    );
  });

  test('delete removes a manifest and every tag on it', TIMEOUT, async () => {
    const repo = `${host(server)}/clients/delete`;
    await skopeo('copy', [layout.ref('small'), `docker://${repo}:gone`]);
    await skopeo('copy', [layout.ref('small'), `docker://${repo}:also-gone`]);
    const other = await layout.addImage({ tag: 'other', layers: smallLayers('other') });
    await skopeo('copy', [layout.ref('other'), `docker://${repo}:kept`]);

    await skopeo('delete', [`docker://${repo}:gone`]);

    await assert.rejects(inspectRaw(`docker://${repo}:gone`), CommandError);
    await assert.rejects(inspectRaw(`docker://${repo}@${small.manifest.digest}`), CommandError);
    assert.equal((await inspectRaw(`docker://${repo}:kept`)).digest, other.manifest.digest);
    const { stdout } = await skopeo('list-tags', [`docker://${repo}`]);
    assert.deepEqual((JSON.parse(stdout) as { Tags: string[] }).Tags, ['kept']);
    const revision = join(server.registryRoot, 'repositories/clients/delete/_manifests/revisions/sha256');
    await assert.rejects(access(join(revision, small.manifest.digest.slice(7), 'link')));
  });

  test('delete is refused when storage.delete is disabled', TIMEOUT, async () => {
    const readOnly = await startTestServer();
    try {
      const ref = `docker://${host(readOnly)}/clients/nodelete:1`;
      await skopeo('copy', [layout.ref('small'), ref]);
      const refused = await skopeo('delete', [ref]).then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.ok(refused instanceof CommandError, 'skopeo delete must fail');
      assert.match(refused.stderr, /UNSUPPORTED.*\(405 Method Not Allowed\)/);
      assert.equal((await inspectRaw(ref)).digest, small.manifest.digest);
    } finally {
      await readOnly.close();
    }
  });

  test('copies between repositories by mounting blobs', TIMEOUT, async () => {
    const source = `docker://${host(server)}/clients/mount-from:1`;
    const target = `docker://${host(server)}/clients/mount-to:1`;
    await skopeo('copy', [layout.ref('small'), source]);

    const { stderr } = await skopeo('copy', ['--debug', source, target]);
    // containers/image logs each mount attempt and its outcome at debug level.
    const mounted = stderr.split('\n').filter((line) => line.includes('mount OK')).length;
    assert.equal(mounted, small.layers.length, `expected ${small.layers.length} mounts:\n${stderr.slice(-4000)}`);
    assert.match(stderr, /blobs\/uploads\/\?from=clients%2Fmount-from&mount=sha256%3A/);

    assert.equal((await inspectRaw(target)).digest, small.manifest.digest);
    for (const layer of small.layers) {
      const link = join(
        server.registryRoot,
        'repositories/clients/mount-to/_layers/sha256',
        layer.digest.slice(7),
        'link',
      );
      assert.equal(await readFile(link, 'utf8'), layer.digest);
    }
  });
});
