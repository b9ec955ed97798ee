/**
 * A repository's view of the global blob store: a blob is visible in a repository only when
 * the repository links it (`_layers/<alg>/<hex>/link`, or `_manifests/revisions/…/link` since
 * distribution also serves manifests through the blobs endpoint).
 */
import type { StorageDriver } from '../storage/driver.js';
import type { GlobalBlobStore } from './blob-store.js';
import type { LinkCache } from './descriptor-cache.js';
import { RegistryError } from './errors.js';
import type { LinkFence } from './link-fence.js';
import { deleteIfExists, hasLink, writeLink } from './links.js';
import { MEDIA_TYPES } from './media-types.js';
import type { Digest, RepositoryName } from './names.js';
import { layerLinkDir, layerLinkPath, manifestRevisionLinkPath } from './paths.js';
import type { BlobStore, CallOptions, Descriptor } from './types.js';

export interface LinkedBlobStore extends BlobStore {
  /**
   * Describes a blob linked as a layer or config (`_layers` only), as manifest validation needs.
   * With `uncached` the data's existence is checked in storage, not in the descriptor cache.
   * @returns undefined when not linked or its data is gone.
   */
  statLayer(digest: Digest, opts?: CallOptions & { uncached?: boolean }): Promise<Descriptor | undefined>;
}

export interface LinkedBlobStoreOptions {
  driver: StorageDriver;
  name: RepositoryName;
  global: GlobalBlobStore;
  deleteEnabled: boolean;
  /** Every repository of the registry, for mounts without a source repository. */
  repositories: (opts: CallOptions) => AsyncIterable<RepositoryName>;
  /** Online garbage collection's fence: mounts announce the blob before linking it. */
  fence?: LinkFence | undefined;
  /** The shared cache of links (Redis), read before link files and cleared on unlink. */
  links?: LinkCache | undefined;
}

/** Whether `name` links `digest` as a layer or as a manifest revision. */
export async function isLinkedIn(
  driver: StorageDriver,
  name: RepositoryName,
  digest: Digest,
  opts: CallOptions = {},
): Promise<boolean> {
  return (
    (await hasLink(driver, layerLinkPath(name, digest), digest, opts)) ||
    (await hasLink(driver, manifestRevisionLinkPath(name, digest), digest, opts))
  );
}

export function createLinkedBlobStore(options: LinkedBlobStoreOptions): LinkedBlobStore {
  const { driver, name, global } = options;

  function descriptor(digest: Digest, size: number): Descriptor {
    return { mediaType: MEDIA_TYPES.octetStream, digest, size };
  }

  function unknown(digest: Digest): RegistryError {
    return new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
  }

  async function describeGlobal(
    digest: Digest,
    opts: CallOptions & { uncached?: boolean },
  ): Promise<Descriptor | undefined> {
    const size = await global.size(digest, opts);
    return size === undefined ? undefined : descriptor(digest, size);
  }

  /**
   * Finds another repository that links the blob as a layer; stops at the first. This walks the
   * catalog, so it costs O(repositories) link reads; a derived blob→repository index can replace it.
   */
  async function anyRepositoryLinks(digest: Digest, opts: CallOptions): Promise<boolean> {
    for await (const other of options.repositories(opts)) {
      if (other !== name && (await hasLink(driver, layerLinkPath(other, digest), digest, opts))) return true;
    }
    return false;
  }

  const store: LinkedBlobStore = {
    async stat(digest, opts = {}) {
      const cached = await options.links?.get(name, digest);
      if (cached !== undefined) return descriptor(digest, cached.size);
      const kind = (await hasLink(driver, layerLinkPath(name, digest), digest, opts))
        ? 'layer'
        : (await hasLink(driver, manifestRevisionLinkPath(name, digest), digest, opts))
          ? 'manifest'
          : undefined;
      if (kind === undefined) throw unknown(digest);
      const found = await describeGlobal(digest, opts);
      if (found === undefined) throw unknown(digest);
      await options.links?.set(name, digest, kind, found.size);
      return found;
    },

    async statLayer(digest, opts = {}) {
      if (opts.uncached !== true) {
        const cached = await options.links?.get(name, digest);
        if (cached?.kinds?.has('layer') === true) return descriptor(digest, cached.size);
      }
      if (!(await hasLink(driver, layerLinkPath(name, digest), digest, opts))) return undefined;
      const found = await describeGlobal(digest, opts);
      if (found !== undefined) await options.links?.set(name, digest, 'layer', found.size);
      return found;
    },

    async open(digest, opts = {}) {
      // With a size the caller has stat'ed (and so checked the link) already: one ranged read only.
      const size = opts.size ?? (await store.stat(digest, opts)).size;
      const opened = await global.open(digest, { ...opts, size });
      return {
        descriptor: descriptor(digest, size),
        stream: opened.stream,
        offset: opened.offset,
        length: opened.length,
      };
    },

    redirectURL(digest, method, opts) {
      return global.redirectURL(digest, method, opts);
    },

    async mount(digest, from, opts = {}) {
      const linkedSomewhere =
        from === undefined
          ? (await hasLink(driver, layerLinkPath(name, digest), digest, opts)) ||
            (await anyRepositoryLinks(digest, opts))
          : await isLinkedIn(driver, from, digest, opts);
      if (!linkedSomewhere) return undefined;
      if (options.fence !== undefined) await options.fence.protect([digest], opts);
      const found = await describeGlobal(digest, { ...opts, uncached: options.fence !== undefined });
      if (found === undefined) return undefined;
      await writeLink(driver, layerLinkPath(name, digest), digest, opts);
      return found;
    },

    async delete(digest, opts = {}) {
      if (!options.deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled', { digest });
      if (!(await hasLink(driver, layerLinkPath(name, digest), digest, opts))) throw unknown(digest);
      // The whole `<alg>/<hex>` directory goes, so no empty directory is left behind.
      await deleteIfExists(driver, layerLinkDir(name, digest), opts);
      await options.links?.delete(name, digest);
    },
  };
  return store;
}
