/**
 * The drop-in proof, in both directions, against Debian's `docker-registry` (CNCF distribution
 * 2.8, what `registry:2` runs): the same pushes go to distribution on one storage directory and
 * to Berth on another; then Berth serves distribution's directory and distribution serves
 * Berth's, and every manifest, blob, tag list and catalog must come out the same. Both
 * directories must also hold exactly the same files.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createOciLayout, type OciLayout, readDirCopy, smallLayers } from '../helpers/images.js';
import { startTestServer } from '../helpers/server.js';
import { CommandError, inspectRaw, skopeo, startDockerRegistry } from '../helpers/tools.js';

const TIMEOUT = { timeout: 240_000 };

/** One manifest pushed under a tag, and whether it was deleted afterwards. */
interface Pushed {
  repo: string;
  tag: string;
  digest: string;
  deleted: boolean;
}

/** A registry's answers about its content: the catalog, and every repository's tags. */
interface Listing {
  catalog: string[];
  tags: Record<string, string[]>;
}

/** A running registry of either kind, as these tests need it. */
interface Running {
  url: string;
  host: string;
  stop(): Promise<void>;
}

async function startBerth(rootDir: string): Promise<Running> {
  const server = await startTestServer({
    storage: { filesystem: { rootdirectory: rootDir }, delete: { enabled: true } },
  });
  return { url: server.url, host: new URL(server.url).host, stop: () => server.close() };
}

async function startDistribution(rootDir: string): Promise<Running> {
  const registry = await startDockerRegistry({ rootDir, deleteEnabled: true });
  return { url: registry.url, host: registry.host, stop: () => registry.stop() };
}

/** Pushes the same set of images (OCI, Docker schema2, multi-arch, nested names, a delete) to `host`. */
async function pushAll(host: string, layout: OciLayout, work: string): Promise<Pushed[]> {
  const pushed: Pushed[] = [];
  const copy = async (source: string, repo: string, tag: string, flags: string[] = []): Promise<void> => {
    const digestFile = join(work, `digest-${pushed.length}`);
    await skopeo('copy', [...flags, '--digestfile', digestFile, layout.ref(source), `docker://${host}/${repo}:${tag}`]);
    pushed.push({ repo, tag, digest: await readFile(digestFile, 'utf8'), deleted: false });
  };
  await copy('small', 'compat/oci', '1');
  await copy('small', 'compat/oci', 'latest');
  await copy('small', 'compat/v2s2', '1', ['--format', 'v2s2']);
  await copy('multi', 'compat/multi', '1', ['--all']);
  await copy('other', 'compat/nested/deep/name', 'x');
  await copy('other', 'compat/doomed', 'kept');
  await copy('small', 'compat/doomed', 'gone');
  await skopeo('delete', [`docker://${host}/compat/doomed:gone`]);
  const gone = pushed.find((entry) => entry.repo === 'compat/doomed' && entry.tag === 'gone');
  assert.ok(gone);
  gone.deleted = true;
  return pushed;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  const body = await response.text();
  assert.equal(response.status, 200, `GET ${url}: ${body}`);
  return JSON.parse(body) as T;
}

async function listing(url: string, repos: Iterable<string>): Promise<Listing> {
  const { repositories } = await getJson<{ repositories: string[] }>(`${url}/v2/_catalog`);
  const tags: Record<string, string[]> = {};
  for (const repo of repos) {
    const list = await getJson<{ name: string; tags: string[] | null }>(`${url}/v2/${repo}/tags/list`);
    assert.equal(list.name, repo);
    // Distribution lists tags in directory order, which the filesystem does not define.
    tags[repo] = [...(list.tags ?? [])].sort();
  }
  return { catalog: repositories, tags };
}

/**
 * Every pushed manifest is served with the pushed digest and copies out completely (every blob
 * re-hashed by readDirCopy); every deleted one is unknown; the listing is `expected`.
 */
async function assertServes(registry: Running, pushed: Pushed[], expected: Listing, out: string): Promise<void> {
  await mkdir(out, { recursive: true });
  for (const [i, entry] of pushed.entries()) {
    const ref = `docker://${registry.host}/${entry.repo}:${entry.tag}`;
    if (entry.deleted) {
      await assert.rejects(inspectRaw(ref), CommandError, `${ref} was deleted`);
      await assert.rejects(inspectRaw(`docker://${registry.host}/${entry.repo}@${entry.digest}`), CommandError);
      continue;
    }
    assert.equal((await inspectRaw(ref)).digest, entry.digest, ref);
    // dir: keeps Docker manifests as they are, where oci: would convert them.
    const dir = join(out, String(i));
    await skopeo('copy', ['--all', ref, `dir:${dir}`]);
    const copied = await readDirCopy(dir);
    assert.equal(copied.digest, entry.digest, ref);
    const referenced = [copied.json.config, ...(copied.json.layers ?? []), ...(copied.json.manifests ?? [])];
    for (const descriptor of referenced) {
      if (descriptor !== undefined) assert.ok(copied.blobs.has(descriptor.digest), `${ref}: ${descriptor.digest}`);
    }
  }
  assert.deepEqual(await listing(registry.url, Object.keys(expected.tags)), expected);
}

/** Every file under `root` except upload sessions: relative path → link content, or size for blob data. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        // Upload sessions differ by design; `_berth/` holds Berth's derived indexes, which registry:2 never reads.
        if (entry.name !== '_uploads' && entry.name !== '_berth') await walk(path);
      } else if (entry.name === 'data') {
        // Blob data is named by its digest; equal names and sizes mean equal content.
        files.set(relative(root, path), `size ${(await stat(path)).size}`);
      } else {
        files.set(relative(root, path), await readFile(path, 'utf8'));
      }
    }
  };
  await walk(root);
  return files;
}

describe('registry:2 compatibility with docker-registry (CNCF distribution 2.8)', () => {
  let work: string;
  let layout: OciLayout;
  let distributionDir: string;
  let berthDir: string;
  let fromDistribution: Pushed[];
  let fromBerth: Pushed[];
  let distributionListing: Listing;
  let berthListing: Listing;
  let distributionFiles: Map<string, string>;
  let berthFiles: Map<string, string>;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-compat-'));
    layout = await createOciLayout(join(work, 'src'));
    await layout.addImage({ tag: 'small', layers: smallLayers('compat') });
    await layout.addImage({ tag: 'other', layers: smallLayers('compat-other') });
    await layout.addIndex({ tag: 'multi', layers: smallLayers('compat-multi') });
    distributionDir = join(work, 'written-by-distribution');
    berthDir = join(work, 'written-by-berth');
    await mkdir(join(work, 'digests'));

    const distribution = await startDistribution(distributionDir);
    try {
      fromDistribution = await pushAll(distribution.host, layout, join(work, 'digests'));
      distributionListing = await listing(distribution.url, new Set(fromDistribution.map((entry) => entry.repo)));
    } finally {
      await distribution.stop();
    }
    const berth = await startBerth(berthDir);
    try {
      fromBerth = await pushAll(berth.host, layout, join(work, 'digests'));
      berthListing = await listing(berth.url, new Set(fromBerth.map((entry) => entry.repo)));
    } finally {
      await berth.stop();
    }
    distributionFiles = await snapshot(join(distributionDir, 'docker/registry/v2'));
    berthFiles = await snapshot(join(berthDir, 'docker/registry/v2'));
  }, TIMEOUT);

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('both registries accept the same pushes with the same digests and listings', () => {
    assert.deepEqual(fromBerth, fromDistribution);
    assert.deepEqual(berthListing, distributionListing);
    assert.deepEqual(distributionListing.catalog, [
      'compat/doomed',
      'compat/multi',
      'compat/nested/deep/name',
      'compat/oci',
      'compat/v2s2',
    ]);
  });

  test('Berth writes exactly the files distribution writes', () => {
    assert.equal(
      distributionFiles.get('repositories/compat/oci/_manifests/tags/latest/current/link'),
      fromDistribution[1]?.digest,
    );
    const sorted = (files: Map<string, string>): [string, string][] =>
      [...files].sort(([a], [b]) => a.localeCompare(b));
    assert.deepEqual(sorted(berthFiles), sorted(distributionFiles));
  });

  test('Berth serves a storage directory written by distribution', TIMEOUT, async () => {
    const berth = await startBerth(distributionDir);
    try {
      await assertServes(berth, fromDistribution, distributionListing, join(work, 'out-berth'));
    } finally {
      await berth.stop();
    }
  });

  test('distribution serves a storage directory written by Berth', TIMEOUT, async () => {
    const distribution = await startDistribution(berthDir);
    try {
      await assertServes(distribution, fromBerth, distributionListing, join(work, 'out-distribution'));
    } finally {
      await distribution.stop();
    }
  });

  test('distribution keeps serving a directory after Berth changed it', TIMEOUT, async () => {
    const berth = await startBerth(distributionDir);
    const added: Pushed[] = [];
    try {
      // A new tag in an existing repository, a new repository, and a delete of distribution's content.
      for (const [repo, tag] of [
        ['compat/oci', 'added'],
        ['compat/added', '1'],
      ] as const) {
        const ref = `docker://${berth.host}/${repo}:${tag}`;
        await skopeo('copy', [layout.ref('other'), ref]);
        added.push({ repo, tag, digest: (await inspectRaw(ref)).digest, deleted: false });
      }
      await skopeo('delete', [`docker://${berth.host}/compat/v2s2:1`]);
    } finally {
      await berth.stop();
    }
    const changed = [
      ...fromDistribution.map((entry) => (entry.repo === 'compat/v2s2' ? { ...entry, deleted: true } : entry)),
      ...added,
    ];
    const expected: Listing = {
      catalog: ['compat/added', ...distributionListing.catalog],
      tags: {
        ...distributionListing.tags,
        'compat/oci': ['1', 'added', 'latest'],
        'compat/v2s2': [],
        'compat/added': ['1'],
      },
    };
    const distribution = await startDistribution(distributionDir);
    try {
      await assertServes(distribution, changed, expected, join(work, 'out-changed'));
    } finally {
      await distribution.stop();
    }
  });
});
