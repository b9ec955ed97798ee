/**
 * Composes the services over one storage driver: a global blob store with a descriptor cache,
 * and cheap per-repository handles that touch no storage until used.
 */
import { createGlobalBlobStore } from './blob-store.js';
import { createCatalog } from './catalog.js';
import { createCatalogIndex, withCatalogNotes } from './catalog-index.js';
import { createMemoryDescriptorCache, type DescriptorCache } from './descriptor-cache.js';
import type { LinkFence } from './link-fence.js';
import { createLinkedBlobStore } from './linked-blob-store.js';
import { createKeyedMutex } from './locks.js';
import { createLruMap } from './lru.js';
import { createManifestStore, DEFAULT_MAX_MANIFEST_BYTES } from './manifests.js';
import type { RepositoryName } from './names.js';
import { createReferrerStore } from './referrers.js';
import { createTagStore, paginate } from './tags.js';
import type { Registry, RegistryOptions, Repository } from './types.js';
import type { RunningHashFactory } from './upload-hash.js';
import { createUploadStore, type UploadHashState } from './uploads.js';

export interface CreateRegistryOptions extends RegistryOptions {
  /** Cache of global blob sizes; defaults to an in-memory LRU of 10 000 entries. */
  descriptorCache?: DescriptorCache;
  /** How many upload sessions keep a running hash in memory (default 1000); others re-hash from storage. */
  maxCachedUploadHashes?: number;
  /** Online garbage collection's fence, announced to by every writer that links a blob (see gc/fence.ts). */
  fence?: LinkFence | undefined;
  /** The running hash of uploads (default native); resumableSha256 when other processes continue sessions. */
  uploadHashes?: RunningHashFactory | undefined;
}

/** Repository handles kept for reuse (see createRegistry). */
const MAX_CACHED_REPOSITORIES = 1024;

export function createRegistry(opts: CreateRegistryOptions): Registry {
  const { driver, deleteEnabled } = opts;
  const maxManifestBytes = opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
  const cache = opts.descriptorCache ?? createMemoryDescriptorCache();
  const global = createGlobalBlobStore(driver, cache);
  const catalog = createCatalog(driver);
  // The catalog answers from a derived index; links written through repoDriver keep it current.
  const catalogIndex = createCatalogIndex(driver, { walk: (callOpts) => catalog.repositories(callOpts) });
  const repoDriver = withCatalogNotes(driver, catalogIndex);
  const hashers = createLruMap<string, UploadHashState>(opts.maxCachedUploadHashes ?? 1000);
  const mutex = createKeyedMutex();

  // Handles hold no state of their own (only closures over the shared services), so one per name
  // is kept: a request then allocates no service objects, and the tag store's memo lives on.
  const handles = createLruMap<RepositoryName, Repository>(MAX_CACHED_REPOSITORIES);

  function repository(name: RepositoryName): Repository {
    let handle = handles.get(name);
    if (handle === undefined) {
      handle = createRepository(name);
      handles.set(name, handle);
    }
    return handle;
  }

  function createRepository(name: RepositoryName): Repository {
    const blobs = createLinkedBlobStore({
      driver: repoDriver,
      name,
      global,
      deleteEnabled,
      repositories: (callOpts) => catalog.repositories(callOpts),
      fence: opts.fence,
      links: cache.links,
    });
    const tags = createTagStore({ driver, name, deleteEnabled });
    const manifests = createManifestStore({
      driver: repoDriver,
      name,
      global,
      blobs,
      tags,
      deleteEnabled,
      maxManifestBytes,
      fence: opts.fence,
      links: cache.links,
    });
    const uploads = createUploadStore({
      driver: repoDriver,
      name,
      global,
      hashers,
      mutex,
      fence: opts.fence,
      hashes: opts.uploadHashes,
    });
    const referrers = createReferrerStore({ driver, name, manifests });
    return {
      name,
      blobs: () => blobs,
      uploads: () => uploads,
      manifests: () => manifests,
      tags: () => tags,
      referrers: () => referrers,
    };
  }

  return {
    repository,
    catalog: async (page = {}) => paginate(await catalogIndex.names(page), page),
  };
}
