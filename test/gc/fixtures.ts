/**
 * Shared by the garbage-collection tests: pushing images of unique content over real HTTP,
 * pulling an image completely (every manifest, config and layer, digests checked), and
 * snapshots of a storage tree.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, pushBlob, pushManifest } from '../helpers/http.js';

export const ACCEPT_ALL = [
  OCI_MANIFEST,
  OCI_INDEX,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export function digestOf(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export interface Blob {
  digest: string;
  size: number;
  bytes: Buffer;
}

export function makeBlob(size = 256): Blob {
  const bytes = randomBytes(size);
  return { digest: digestOf(bytes), size, bytes };
}

/** A small image config, unique per call. */
export function makeConfig(): Blob {
  const bytes = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }),
  );
  return { bytes, digest: digestOf(bytes), size: bytes.length };
}

export interface Image {
  repo: string;
  digest: string;
  bytes: Buffer;
  config: Blob;
  layers: Blob[];
}

/** Pushes the blobs, then the manifest under `reference` (a tag), or by its digest when undefined. */
export async function pushImage(
  base: string,
  repo: string,
  reference: string | undefined,
  opts: {
    layers?: Blob[];
    config?: Blob;
    subject?: { digest: string; size: number; mediaType: string };
    artifactType?: string;
  } = {},
): Promise<Image> {
  const config = opts.config ?? makeConfig();
  const layers = opts.layers ?? [makeBlob()];
  for (const blob of [config, ...layers]) await pushBlob(base, repo, blob.bytes);
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })),
  };
  if (opts.artifactType !== undefined) manifest['artifactType'] = opts.artifactType;
  if (opts.subject !== undefined) manifest['subject'] = opts.subject;
  const bytes = Buffer.from(JSON.stringify(manifest));
  const pushed = await pushManifest(base, repo, reference ?? digestOf(bytes), bytes, OCI_MANIFEST);
  return { repo, digest: pushed.digest, bytes: pushed.bytes, config, layers };
}

/** Pushes an index over `children` (already pushed to `repo`). */
export async function pushIndex(base: string, repo: string, reference: string, children: Image[]) {
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((child, i) => ({
      mediaType: OCI_MANIFEST,
      digest: child.digest,
      size: child.bytes.length,
      platform: { os: 'linux', architecture: i === 0 ? 'amd64' : 'arm64' },
    })),
  };
  return pushManifest(base, repo, reference, index, OCI_INDEX);
}

/** Every blob digest an image's manifest needs, its own included. */
export function imageBlobs(image: Image): string[] {
  return [image.digest, image.config.digest, ...image.layers.map((l) => l.digest)];
}

async function fetchVerified(url: string, digest: string, accept?: string): Promise<Buffer> {
  const res = await fetch(url, accept === undefined ? {} : { headers: { Accept: accept } });
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `GET ${url}: ${res.status} ${body.toString('utf8').slice(0, 300)}`);
  assert.equal(digestOf(body), digest, `content of ${url}`);
  return body;
}

/**
 * Pulls `repo:reference` completely over HTTP: the manifest, each child of an index, every
 * config and layer, each checked against its digest.
 * @returns the digests fetched.
 */
export async function pullCompletely(base: string, repo: string, reference: string): Promise<string[]> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${reference}`, { headers: { Accept: ACCEPT_ALL } });
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `GET manifest ${repo}:${reference}: ${res.status} ${body.toString('utf8')}`);
  const digest = digestOf(body);
  if (reference.includes(':')) assert.equal(digest, reference);
  const fetched = [digest];
  const doc = JSON.parse(body.toString('utf8')) as {
    config?: { digest: string };
    layers?: Array<{ digest: string }>;
    manifests?: Array<{ digest: string }>;
  };
  for (const child of doc.manifests ?? []) fetched.push(...(await pullCompletely(base, repo, child.digest)));
  for (const blob of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) {
    await fetchVerified(`${base}/v2/${repo}/blobs/${blob.digest}`, blob.digest);
    fetched.push(blob.digest);
  }
  return fetched;
}

/** Every file below `root` with its size, relative paths sorted: equal snapshots mean nothing changed. */
export async function snapshotTree(root: string): Promise<string[]> {
  const out: string[] = [];
  async function visit(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await visit(path);
      else out.push(`${relative(root, path)} ${(await stat(path)).size}`);
    }
  }
  await visit(root);
  return out.sort();
}

/** Digests of the blobs whose `data` exists under a registry root (`…/docker/registry/v2`). */
export async function storedBlobs(registryRoot: string): Promise<Set<string>> {
  const found = new Set<string>();
  const shards = join(registryRoot, 'blobs', 'sha256');
  for (const shard of await readdir(shards).catch(() => [] as string[])) {
    for (const hex of await readdir(join(shards, shard))) {
      const entries = await readdir(join(shards, shard, hex));
      if (entries.includes('data')) found.add(`sha256:${hex}`);
    }
  }
  return found;
}
