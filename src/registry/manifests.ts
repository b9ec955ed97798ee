/**
 * Manifests: stored as global blobs, linked into a repository by
 * `_manifests/revisions/<alg>/<hex>/link`, with an optional tag and a `_referrers` entry for
 * manifests that have a `subject`.
 */
import { createHash } from 'node:crypto';
import type { StorageDriver } from '../storage/driver.js';
import type { GlobalBlobStore } from './blob-store.js';
import { mapLimit } from './concurrency.js';
import type { LinkCache } from './descriptor-cache.js';
import { RegistryError } from './errors.js';
import type { LinkFence } from './link-fence.js';
import type { LinkedBlobStore } from './linked-blob-store.js';
import { deleteIfExists, hasLink, writeLink } from './links.js';
import { describeManifest, type ParsedManifest, parseManifest } from './manifest-validation.js';
import { type Digest, digestAlgorithm, digestFromHex, type RepositoryName } from './names.js';
import { manifestRevisionDir, manifestRevisionLinkPath, referrerDir, referrerLinkPath } from './paths.js';
import type { CallOptions, ManifestStore, TagStore } from './types.js';

export const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const VERIFY_CONCURRENCY = 16;

export interface ManifestStoreOptions {
  driver: StorageDriver;
  name: RepositoryName;
  global: GlobalBlobStore;
  blobs: LinkedBlobStore;
  tags: TagStore;
  deleteEnabled: boolean;
  maxManifestBytes: number;
  /** Online garbage collection's fence: a put announces the manifest and everything it references. */
  fence?: LinkFence | undefined;
  /** The shared cache of links (Redis), read before revision links and cleared on delete. */
  links?: LinkCache | undefined;
}

/**
 * Media types of payloads seen: a driver that caches small files hands back the same Buffer
 * for the same bytes, so a manifest is parsed once rather than on every pull.
 */
const mediaTypes = new WeakMap<Buffer, string>();

function mediaTypeOf(payload: Buffer): string {
  let mediaType = mediaTypes.get(payload);
  if (mediaType === undefined) {
    mediaType = describeManifest(payload).mediaType;
    mediaTypes.set(payload, mediaType);
  }
  return mediaType;
}

export function createManifestStore(options: ManifestStoreOptions): ManifestStore {
  const { driver, name, global } = options;

  function unknown(digest: Digest): RegistryError {
    return new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { digest });
  }

  function blobUnknown(digest: Digest): RegistryError {
    return new RegistryError('MANIFEST_BLOB_UNKNOWN', 'manifest references a blob unknown to the repository', {
      digest,
    });
  }

  async function isRevision(digest: Digest, opts: CallOptions & { uncached?: boolean }): Promise<boolean> {
    const links = opts.uncached === true ? undefined : options.links;
    if ((await links?.get(name, digest))?.kinds?.has('manifest') === true) return true;
    const linked = await hasLink(driver, manifestRevisionLinkPath(name, digest), digest, opts);
    if (linked && links !== undefined) {
      const size = await global.size(digest, opts);
      if (size !== undefined) await links.set(name, digest, 'manifest', size);
    }
    return linked;
  }

  /** Distribution's rule: every blob and child must already be in this repository before the manifest is. */
  async function verifyReferences(parsed: ParsedManifest, opts: CallOptions & { uncached?: boolean }): Promise<void> {
    await mapLimit(parsed.blobs, VERIFY_CONCURRENCY, async (digest) => {
      if ((await options.blobs.statLayer(digest, opts)) === undefined) throw blobUnknown(digest);
    });
    await mapLimit(parsed.manifests, VERIFY_CONCURRENCY, async (digest) => {
      if (!(await isRevision(digest, opts)) || (await global.size(digest, opts)) === undefined) {
        throw blobUnknown(digest);
      }
    });
  }

  async function read(digest: Digest, opts: CallOptions): Promise<Buffer> {
    if (!(await isRevision(digest, opts))) throw unknown(digest);
    try {
      return await global.read(digest, { signal: opts.signal, maxBytes: options.maxManifestBytes });
    } catch (error) {
      if (error instanceof RegistryError && error.code === 'BLOB_UNKNOWN') throw unknown(digest);
      throw error;
    }
  }

  const store: ManifestStore = {
    async exists(digest, opts = {}) {
      return (await isRevision(digest, opts)) && (await global.size(digest, opts)) !== undefined;
    },

    async get(digest, opts = {}) {
      const payload = await read(digest, opts);
      return { digest, mediaType: mediaTypeOf(payload), payload };
    },

    async put(payload, contentType, opts = {}) {
      if (payload.byteLength > options.maxManifestBytes) {
        throw new RegistryError('TOO_LARGE', 'manifest exceeds the size limit', {
          size: payload.byteLength,
          limit: options.maxManifestBytes,
        });
      }
      const parsed = parseManifest(payload, contentType);
      const algorithm = opts.expectedDigest === undefined ? 'sha256' : digestAlgorithm(opts.expectedDigest);
      const digest = digestFromHex(algorithm, createHash(algorithm).update(payload).digest('hex'));
      if (opts.expectedDigest !== undefined && opts.expectedDigest !== digest) {
        throw new RegistryError('DIGEST_INVALID', 'manifest digest does not match its content', {
          expected: opts.expectedDigest,
          digest,
        });
      }
      const fence = options.fence;
      const referenced = [digest, ...parsed.blobs, ...parsed.manifests];
      let token = await fence?.protect(referenced, opts);
      await verifyReferences(parsed, { ...opts, uncached: fence !== undefined });
      // Blob first, then the links that make it visible: a crash in between leaves only garbage.
      await global.put(digest, payload, opts);
      // A collection that started after a stale protection may not honour it: protect and check again.
      while (fence !== undefined && token !== undefined && !token.fresh()) {
        token = await fence.protect(referenced, opts);
        await verifyReferences(parsed, { ...opts, uncached: true });
        await global.put(digest, payload, opts);
      }
      await writeLink(driver, manifestRevisionLinkPath(name, digest), digest, opts);
      if (parsed.subject !== undefined) {
        await writeLink(driver, referrerLinkPath(name, parsed.subject, digest), digest, opts);
      }
      if (opts.tag !== undefined) await options.tags.tag(opts.tag, digest, opts);
      return {
        digest,
        mediaType: parsed.mediaType,
        ...(parsed.subject === undefined ? {} : { subject: parsed.subject }),
      };
    },

    async delete(digest, opts = {}) {
      if (!options.deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled', { digest });
      const payload = await read(digest, opts);
      const { subject } = describeManifest(payload);
      await deleteIfExists(driver, manifestRevisionDir(name, digest), opts);
      await options.links?.delete(name, digest);
      for (const tag of await options.tags.lookup(digest, opts)) {
        try {
          await options.tags.untag(tag, opts);
        } catch (error) {
          // A concurrent untag got there first; the outcome is the same.
          if (!(error instanceof RegistryError && error.code === 'MANIFEST_UNKNOWN')) throw error;
        }
      }
      if (subject !== undefined) await deleteIfExists(driver, referrerDir(name, subject, digest), opts);
    },
  };
  return store;
}
