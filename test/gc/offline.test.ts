/**
 * `berth garbage-collect` on a store built by real pushes: shared layers across repositories,
 * an index with untagged children, referrers (and a referrer of a referrer), a moved tag, an
 * untagged image, an orphan blob and a deleted image. A dry run changes nothing; a real run
 * removes exactly the unreferenced blobs and their layer links; `--delete-untagged` removes
 * exactly the untagged manifests nothing kept reaches; every surviving image still pulls
 * completely with skopeo and over HTTP.
 */
import assert from 'node:assert/strict';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../cli/run-cli.js';
import { pushBlob } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';
import { skopeo } from '../helpers/tools.js';
import {
  type Image,
  imageBlobs,
  makeBlob,
  pullCompletely,
  pushImage,
  pushIndex,
  snapshotTree,
  storedBlobs,
} from './fixtures.js';

const TIMEOUT = { timeout: 240_000 };
const SIGNATURE = 'application/vnd.example.signature';

interface Store {
  app: Record<'a1' | 'a2' | 'a3' | 'a4' | 'r3', Image>;
  multi: Record<'m1' | 'm2' | 's' | 's2' | 'u', Image> & { index: string };
  other: Record<'o1' | 'o2', Image>;
  orphan: string;
  base: string;
}

function subjectOf(image: Image) {
  return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest, size: image.bytes.length };
}

async function buildStore(url: string): Promise<Store> {
  const base = makeBlob(512);
  const own = () => [base, makeBlob()];
  const a1 = await pushImage(url, 'gc/app', 'v1', { layers: own() });
  const a2 = await pushImage(url, 'gc/app', 'v2', { layers: own() });
  const a3 = await pushImage(url, 'gc/app', 'v3', { layers: own() });
  // The tag moves on: a3 stays as an untagged revision, listed in v3's history.
  const a4 = await pushImage(url, 'gc/app', 'v3', { layers: own() });
  const r3 = await pushImage(url, 'gc/app', undefined, { subject: subjectOf(a3), artifactType: SIGNATURE });
  const orphan = await pushBlob(url, 'gc/app', makeBlob().bytes);

  const m1 = await pushImage(url, 'gc/multi', undefined);
  const m2 = await pushImage(url, 'gc/multi', undefined);
  const index = (await pushIndex(url, 'gc/multi', 'latest', [m1, m2])).digest;
  const indexSubject = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: index, size: 0 };
  const s = await pushImage(url, 'gc/multi', undefined, { subject: indexSubject, artifactType: SIGNATURE });
  const s2 = await pushImage(url, 'gc/multi', undefined, { subject: subjectOf(s), artifactType: SIGNATURE });
  const u = await pushImage(url, 'gc/multi', undefined);

  const o1 = await pushImage(url, 'gc/other', '1', { layers: own() });
  const o2 = await pushImage(url, 'gc/other', '2');
  const deleted = await fetch(`${url}/v2/gc/other/manifests/${o2.digest}`, { method: 'DELETE' });
  assert.equal(deleted.status, 202);
  return {
    app: { a1, a2, a3, a4, r3 },
    multi: { m1, m2, s, s2, u, index },
    other: { o1, o2 },
    orphan,
    base: base.digest,
  };
}

const TAGS = ['gc/app:v1', 'gc/app:v2', 'gc/app:v3', 'gc/multi:latest', 'gc/other:1'];

/** Serves `rootDir` again and pulls every tagged image with skopeo and the given digests over HTTP. */
async function assertPullable(rootDir: string, work: string, byDigest: Array<[string, string]>): Promise<void> {
  const server = await startTestServer({ storage: { filesystem: { rootdirectory: rootDir } } });
  try {
    const host = new URL(server.url).host;
    for (const [i, ref] of TAGS.entries()) {
      await skopeo('copy', ['--all', `docker://${host}/${ref}`, `dir:${join(work, `pull-${Date.now()}-${i}`)}`]);
      const [repo, tag] = ref.split(':') as [string, string];
      await pullCompletely(server.url, repo, tag);
    }
    for (const [repo, digest] of byDigest) await pullCompletely(server.url, repo, digest);
  } finally {
    await server.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('berth garbage-collect', () => {
  let work: string;
  let rootDir: string;
  let registryRoot: string;
  let configPath: string;
  let store: Store;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-gc-offline-'));
    rootDir = join(work, 'data');
    registryRoot = join(rootDir, 'docker', 'registry', 'v2');
    configPath = join(work, 'config.yml');
    await writeFile(
      configPath,
      `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${rootDir}\n`,
    );
    const server = await startTestServer({
      storage: { filesystem: { rootdirectory: rootDir }, delete: { enabled: true } },
    });
    try {
      store = await buildStore(server.url);
    } finally {
      await server.close();
    }
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const gc = (...flags: string[]) => runCli(['garbage-collect', configPath, ...flags]);

  test('--dry-run reports in registry:2 style and changes nothing', TIMEOUT, async () => {
    const before = await snapshotTree(rootDir);
    const result = await gc('--dry-run');
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split('\n');
    for (const repo of ['gc/app', 'gc/multi', 'gc/other']) assert.ok(lines.includes(repo), `a line naming ${repo}`);
    assert.ok(lines.includes(`gc/app: marking manifest ${store.app.a1.digest} `));
    assert.ok(lines.includes(`gc/app: marking blob ${store.base}`));
    assert.ok(lines.includes(`gc/multi: marking blob ${store.multi.m1.layers[0]!.digest}`));
    const garbage = [store.orphan, ...imageBlobs(store.other.o2)];
    for (const digest of garbage) assert.ok(lines.includes(`blob eligible for deletion: ${digest}`), digest);
    assert.ok(lines.includes(`gc/app: layer link eligible for deletion: ${store.orphan}`));
    assert.match(result.stdout, /^\d+ blobs marked, 4 blobs and 0 manifests eligible for deletion$/m);
    assert.equal(lines.filter((l) => l.startsWith('blob eligible for deletion: ')).length, 4);
    assert.match(result.stdout, /dry run: nothing was deleted; 4 blobs \([\d.]+ \w+\), 0 manifests and 3 layer links/);
    assert.deepEqual(await snapshotTree(rootDir), before);

    const untagged = await gc('-d', '-m');
    assert.equal(untagged.code, 0, untagged.stderr);
    for (const image of [store.app.a3, store.app.r3, store.multi.u]) {
      assert.match(untagged.stdout, new RegExp(`^manifest eligible for deletion: ${image.repo}@${image.digest}$`, 'm'));
    }
    assert.match(untagged.stdout, /^\d+ blobs marked, 13 blobs and 3 manifests eligible for deletion$/m);
    assert.deepEqual(await snapshotTree(rootDir), before);
  });

  test('a real run removes exactly the unreferenced blobs and their layer links', TIMEOUT, async () => {
    const beforeBlobs = await storedBlobs(registryRoot);
    const result = await gc();
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /deleted 4 blobs, 0 manifests and 3 layer links; [\d.]+ \w+ reclaimed/);
    const expected = new Set(beforeBlobs);
    for (const digest of [store.orphan, ...imageBlobs(store.other.o2)]) expected.delete(digest);
    assert.deepEqual(await storedBlobs(registryRoot), expected);
    const layerLink = (repo: string, digest: string) =>
      join(registryRoot, 'repositories', repo, '_layers', 'sha256', digest.slice(7));
    assert.equal(await exists(layerLink('gc/app', store.orphan)), false);
    assert.equal(await exists(layerLink('gc/other', store.other.o2.layers[0]!.digest)), false);
    assert.equal(await exists(layerLink('gc/app', store.base)), true);

    // Nothing left to collect: a second run deletes nothing.
    const again = await gc();
    assert.match(again.stdout, /deleted 0 blobs/);
    const { app, multi } = store;
    await assertPullable(rootDir, work, [
      ['gc/app', app.a3.digest],
      ['gc/app', app.r3.digest],
      ['gc/multi', multi.s.digest],
      ['gc/multi', multi.s2.digest],
      ['gc/multi', multi.u.digest],
    ]);
  });

  test('--delete-untagged removes exactly the untagged manifests nothing kept reaches', TIMEOUT, async () => {
    const beforeBlobs = await storedBlobs(registryRoot);
    const result = await gc('--delete-untagged');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /deleted 9 blobs, 3 manifests and 6 layer links/);
    const { app, multi } = store;
    const expected = new Set(beforeBlobs);
    for (const image of [app.a3, app.r3, multi.u]) {
      for (const digest of imageBlobs(image)) if (digest !== store.base) expected.delete(digest);
    }
    assert.deepEqual(await storedBlobs(registryRoot), expected);
    const repoDir = (repo: string) => join(registryRoot, 'repositories', repo);
    const hex = (image: Image) => image.digest.slice(7);
    assert.equal(await exists(join(repoDir('gc/app'), '_manifests/revisions/sha256', hex(app.a3))), false);
    assert.equal(await exists(join(repoDir('gc/app'), '_manifests/tags/v3/index/sha256', hex(app.a3))), false);
    assert.equal(await exists(join(repoDir('gc/app'), '_manifests/tags/v3/index/sha256', hex(app.a4))), true);
    assert.equal(await exists(join(repoDir('gc/app'), '_referrers/sha256', hex(app.a3), 'sha256', hex(app.r3))), false);

    await assertPullable(rootDir, work, [
      ['gc/multi', multi.m1.digest],
      ['gc/multi', multi.m2.digest],
      ['gc/multi', multi.s.digest],
      ['gc/multi', multi.s2.digest],
    ]);
    const server = await startTestServer({ storage: { filesystem: { rootdirectory: rootDir } } });
    try {
      for (const image of [app.a3, app.r3, multi.u]) {
        const res = await fetch(`${server.url}/v2/${image.repo}/manifests/${image.digest}`);
        await res.arrayBuffer();
        assert.equal(res.status, 404, `${image.repo}@${image.digest} is gone`);
      }
      const referrers = await fetch(`${server.url}/v2/gc/multi/referrers/${multi.index}`);
      const listed = (await referrers.json()) as { manifests: Array<{ digest: string }> };
      assert.deepEqual(
        listed.manifests.map((m) => m.digest),
        [multi.s.digest],
      );
    } finally {
      await server.close();
    }
  });
});
