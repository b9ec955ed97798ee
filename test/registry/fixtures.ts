/** Shared plumbing of the registry services tests: drivers, content, manifests, pushes. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { MEDIA_TYPES } from '../../src/registry/media-types.js';
import {
  type Digest,
  parseDigest,
  parseRepositoryName,
  parseTag,
  type RepositoryName,
  type Tag,
} from '../../src/registry/names.js';
import { createRegistry } from '../../src/registry/registry.js';
import type { Descriptor, Registry, Repository } from '../../src/registry/types.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { createFilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { createInMemoryDriver } from '../../src/storage/drivers/inmemory.js';
import { pseudoRandomBytes } from '../helpers/pseudo-random.js';

/** A fresh, empty driver for one test and how to dispose of it. */
export interface DriverHandle {
  driver: StorageDriver;
  cleanup(): Promise<void>;
}

export type DriverFactory = () => Promise<DriverHandle>;

export const inMemoryFactory: DriverFactory = async () => ({
  driver: createInMemoryDriver(),
  cleanup: async () => {},
});

export async function createTempDir(prefix = 'berth-registry-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export const filesystemFactory: DriverFactory = async () => {
  const rootdirectory = await createTempDir();
  return {
    driver: createFilesystemDriver({ rootdirectory }),
    cleanup: () => rm(rootdirectory, { recursive: true, force: true }),
  };
};

/** What each contract test receives: a registry over a fresh driver. */
export interface Env {
  driver: StorageDriver;
  registry: Registry;
  /** A second registry instance over the same storage: another replica, with its own memory. */
  replica(): Registry;
}

export type WithEnv = (fn: (env: Env) => Promise<void>, opts?: { deleteEnabled?: boolean }) => Promise<void>;

export function createWithEnv(factory: DriverFactory): WithEnv {
  return async (fn, opts = {}) => {
    const { driver, cleanup } = await factory();
    const deleteEnabled = opts.deleteEnabled ?? true;
    try {
      await fn({
        driver,
        registry: createRegistry({ driver, deleteEnabled }),
        replica: () => createRegistry({ driver, deleteEnabled }),
      });
    } finally {
      await cleanup();
    }
  };
}

export const name = (value: string): RepositoryName => parseRepositoryName(value);
export const tag = (value: string): Tag => parseTag(value);

export function sha256Digest(data: Uint8Array): Digest {
  return parseDigest(`sha256:${createHash('sha256').update(data).digest('hex')}`);
}

export function sha512Digest(data: Uint8Array): Digest {
  return parseDigest(`sha512:${createHash('sha512').update(data).digest('hex')}`);
}

export const EMPTY_SHA256 = parseDigest('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');

/** Deterministic pseudo-random bytes; different seeds give different content. */
export function content(size: number, seed = 1): Buffer {
  return pseudoRandomBytes(size, seed);
}

/** Yields `data` in pieces of `size` bytes, as a request body arrives. */
export async function* chunked(data: Uint8Array, size = 7): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, Math.min(i + size, data.length));
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Asserts that `promise` rejects with a RegistryError of `code` and returns the error. */
export async function rejectsWithCode(
  promise: Promise<unknown>,
  code: string,
): Promise<Error & { code: string; detail: unknown }> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  const error = caught as Error & { code?: unknown; detail: unknown };
  assert.equal(error.code, code, `expected ${code}, got ${String(error.code)}: ${error.message}`);
  return error as Error & { code: string; detail: unknown };
}

/** Uploads `data` monolithically through an upload session and commits it. */
export async function pushBlob(repo: Repository, data: Uint8Array): Promise<Descriptor> {
  const session = await repo.uploads().create();
  await session.append(chunked(data, 64 * 1024));
  return session.commit(sha256Digest(data));
}

export function descriptorOf(mediaType: string, data: Uint8Array, extra: Record<string, unknown> = {}) {
  return { mediaType, digest: sha256Digest(data), size: data.length, ...extra };
}

/** A realistic image config blob. */
export function imageConfig(seed = 1): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/bin'], Cmd: ['/bin/sh'], Labels: { seed: String(seed) } },
      rootfs: { type: 'layers', diff_ids: [`sha256:${'ab'.repeat(32)}`] },
      history: [{ created: '2024-01-01T00:00:00Z', created_by: 'test' }],
    }),
  );
}

export interface PushedImage {
  digest: Digest;
  payload: Buffer;
  config: Buffer;
  layers: Buffer[];
}

/** Pushes a config and layers, then an image manifest of `mediaType` referencing them. */
export async function pushImage(
  repo: Repository,
  opts: { seed?: number; mediaType?: string; tag?: string; extra?: Record<string, unknown> } = {},
): Promise<PushedImage> {
  const seed = opts.seed ?? 1;
  const docker = opts.mediaType === MEDIA_TYPES.dockerManifest;
  const config = imageConfig(seed);
  const layers = [content(3000, seed * 10 + 1), content(1500, seed * 10 + 2)];
  await pushBlob(repo, config);
  for (const layer of layers) await pushBlob(repo, layer);
  const manifest = {
    schemaVersion: 2,
    mediaType: opts.mediaType ?? MEDIA_TYPES.ociManifest,
    config: descriptorOf(
      docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json',
      config,
    ),
    layers: layers.map((layer) =>
      descriptorOf(
        docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+gzip',
        layer,
      ),
    ),
    ...opts.extra,
  };
  const payload = Buffer.from(JSON.stringify(manifest, null, 3));
  const result = await repo
    .manifests()
    .put(payload, manifest.mediaType, opts.tag === undefined ? {} : { tag: tag(opts.tag) });
  return { digest: result.digest, payload, config, layers };
}

/** The OCI 1.1 empty config blob `{}`. */
export const EMPTY_JSON = Buffer.from('{}');

/** Pushes an artifact manifest (empty config) whose subject is `subject`. */
export async function pushReferrer(
  repo: Repository,
  subject: { digest: Digest; size: number; mediaType: string },
  opts: { artifactType?: string; configMediaType?: string; annotations?: Record<string, string>; seed?: number } = {},
): Promise<{ digest: Digest; payload: Buffer }> {
  const layer = content(100, opts.seed ?? 99);
  const configBytes = opts.configMediaType === undefined ? EMPTY_JSON : imageConfig(opts.seed ?? 99);
  await pushBlob(repo, configBytes);
  await pushBlob(repo, layer);
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: descriptorOf(opts.configMediaType ?? MEDIA_TYPES.ociEmpty, configBytes),
    layers: [descriptorOf('application/vnd.example.signature', layer)],
    subject,
  };
  if (opts.artifactType !== undefined) manifest['artifactType'] = opts.artifactType;
  if (opts.annotations !== undefined) manifest['annotations'] = opts.annotations;
  const payload = Buffer.from(JSON.stringify(manifest));
  const result = await repo.manifests().put(payload, MEDIA_TYPES.ociManifest);
  return { digest: result.digest, payload };
}
