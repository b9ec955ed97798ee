/**
 * podman and buildah against a real Berth, as root with vfs storage in a temp dir: pull, tag,
 * push to another repository, pull back; build from scratch, commit and push in OCI and Docker
 * formats. Digests are compared end to end (podman's image ID is the config digest).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type BuiltImage,
  createOciLayout,
  DOCKER_MEDIA_TYPES,
  type ManifestJson,
  OCI_MEDIA_TYPES,
  smallLayers,
} from '../helpers/images.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { digestOf, inspectRaw, skopeo } from '../helpers/tools.js';
import { type ContainersEnv, createContainersEnv } from './containers-env.js';

const TIMEOUT = { timeout: 240_000 };

describe('podman and buildah against Berth', () => {
  let server: TestServer;
  let work: string;
  let env: ContainersEnv;
  let host: string;
  let image: BuiltImage;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-podman-'));
    env = await createContainersEnv(join(work, 'containers'));
    const layout = await createOciLayout(join(work, 'src'));
    image = await layout.addImage({ tag: 'small', layers: smallLayers('podman') });
    server = await startTestServer();
    host = new URL(server.url).host;
    await skopeo('copy', [layout.ref('small'), `docker://${host}/podman/source:1`]);
  });

  after(async () => {
    await server?.close();
    await rm(work, { recursive: true, force: true });
  });

  /** podman's view of a local image: its ID (the config digest's hex) and the manifest digest it was pulled by. */
  async function podmanImage(ref: string): Promise<{ id: string; digest: string }> {
    const { stdout } = await env.podman(['image', 'inspect', '--format', '{{.Id}} {{.Digest}}', ref]);
    const [id = '', digest = ''] = stdout.trim().split(' ');
    return { id, digest };
  }

  /** Reads a file from an image's unpacked filesystem, proving its layers were valid and complete. */
  async function readFromImage(ref: string, path: string): Promise<string> {
    const mountPoint = (await env.podman(['image', 'mount', ref])).stdout.trim();
    try {
      return await readFile(join(mountPoint, path), 'utf8');
    } finally {
      await env.podman(['image', 'unmount', ref]);
    }
  }

  test('podman pulls, tags, pushes to another repository and pulls it back', TIMEOUT, async () => {
    const source = `${host}/podman/source:1`;
    const target = `${host}/podman/target:2`;
    await env.podman(['pull', '--tls-verify=false', source]);
    assert.deepEqual(await podmanImage(source), { id: image.config.digest.slice(7), digest: image.manifest.digest });
    assert.equal(await readFromImage(source, 'hello.txt'), 'hello from podman\n');

    await env.podman(['tag', source, target]);
    const digestFile = join(work, 'podman-push.digest');
    await env.podman(['push', '--tls-verify=false', '--digestfile', digestFile, target]);
    const pushed = await readFile(digestFile, 'utf8');
    const served = await inspectRaw(`docker://${target}`);
    assert.equal(served.digest, pushed);
    const json = served.json as ManifestJson;
    assert.equal(json.config?.digest, image.config.digest);
    assert.equal(json.layers?.length, image.layers.length);

    await env.podman(['rmi', '--force', source, target]);
    await env.podman(['pull', '--tls-verify=false', target]);
    assert.deepEqual(await podmanImage(target), { id: image.config.digest.slice(7), digest: pushed });
    assert.equal(await readFromImage(target, 'data/second.txt'), 'second layer of podman\n');
    await env.podman(['rmi', '--force', target]);
  });

  test('podman pulls by digest', TIMEOUT, async () => {
    const ref = `${host}/podman/source@${image.manifest.digest}`;
    await env.podman(['pull', '--tls-verify=false', ref]);
    assert.equal((await podmanImage(ref)).id, image.config.digest.slice(7));
    await env.podman(['rmi', '--force', ref]);
  });

  for (const format of ['oci', 'docker'] as const) {
    test(`buildah builds from scratch and pushes (${format} format); podman pulls it back`, TIMEOUT, async () => {
      const payload = join(work, `payload-${format}.txt`);
      await writeFile(payload, `built by buildah as ${format}\n`);
      const container = (await env.buildah(['from', 'scratch'])).stdout.trim();
      const local = `localhost/berth-built-${format}:1`;
      try {
        await env.buildah(['copy', container, payload, '/payload.txt']);
        await env.buildah(['config', '--cmd', '/payload.txt', '--label', `format=${format}`, container]);
        await env.buildah(['commit', '--format', format, container, local]);
      } finally {
        await env.buildah(['rm', container]);
      }
      const imageId = (await env.buildah(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', local])).stdout;

      const target = `${host}/buildah/${format}:1`;
      const digestFile = join(work, `buildah-${format}.digest`);
      await env.buildah(['push', '--tls-verify=false', '--digestfile', digestFile, local, `docker://${target}`]);
      const pushed = await readFile(digestFile, 'utf8');

      const served = await inspectRaw(`docker://${target}`);
      assert.equal(served.digest, pushed);
      const json = served.json as ManifestJson;
      const expected = format === 'oci' ? OCI_MEDIA_TYPES : DOCKER_MEDIA_TYPES;
      assert.equal(json.mediaType, expected.manifest);
      assert.equal(json.config?.digest, `sha256:${imageId.trim()}`);
      assert.equal(json.layers?.length, 1);

      // The config blob Berth serves is byte-identical to what buildah committed.
      const config = await fetch(`${server.url}/v2/buildah/${format}/blobs/${json.config?.digest}`);
      assert.equal(config.status, 200);
      assert.equal(digestOf(Buffer.from(await config.arrayBuffer())), json.config?.digest);

      await env.podman(['rmi', '--force', local]);
      await env.podman(['pull', '--tls-verify=false', target]);
      assert.deepEqual(await podmanImage(target), { id: imageId.trim(), digest: pushed });
      assert.equal(await readFromImage(target, 'payload.txt'), `built by buildah as ${format}\n`);
      await env.podman(['rmi', '--force', target]);
    });
  }
});
