/**
 * Composes the services over one storage driver: a global blob store with a descriptor cache,
 * and cheap per-repository handles that touch no storage until used.
 */
import { createGlobalBlobStore } from './blob-store.js';
import { createCatalog } from './catalog.js';
import { createMemoryDescriptorCache, type DescriptorCache } from './descriptor-cache.js';
import { createLinkedBlobStore } from './linked-blob-store.js';
import { createKeyedMutex } from './locks.js';
import { createLruMap } from './lru.js';
import { createManifestStore, DEFAULT_MAX_MANIFEST_BYTES } from './manifests.js';
import type { RepositoryName } from './names.js';
import { createReferrerStore } from './referrers.js';
import { createTagStore } from './tags.js';
import type { Registry, RegistryOptions, Repository } from './types.js';
import { createUploadStore, type UploadHashState } from './uploads.js';

export interface CreateRegistryOptions extends RegistryOptions {
  /** Cache of global blob sizes; defaults to an in-memory LRU of 10 000 entries. */
  descriptorCache?: DescriptorCache;
  /** How many upload sessions keep a running hash in memory (default 1000); others re-hash from storage. */
  maxCachedUploadHashes?: number;
}

export function createRegistry(opts: CreateRegistryOptions): Registry {
  const { driver, deleteEnabled } = opts;
  const maxManifestBytes = opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
  const global = createGlobalBlobStore(driver, opts.descriptorCache ?? createMemoryDescriptorCache());
  const catalog = createCatalog(driver);
  const hashers = createLruMap<string, UploadHashState>(opts.maxCachedUploadHashes ?? 1000);
  const mutex = createKeyedMutex();

  function repository(name: RepositoryName): Repository {
    const blobs = createLinkedBlobStore({
      driver,
      name,
      global,
      deleteEnabled,
      repositories: (callOpts) => catalog.repositories(callOpts),
    });
    const tags = createTagStore({ driver, name, deleteEnabled });
    const manifests = createManifestStore({ driver, name, global, blobs, tags, deleteEnabled, maxManifestBytes });
    const uploads = createUploadStore({ driver, name, global, hashers, mutex });
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
    catalog: (page) => catalog.list(page),
  };
}
