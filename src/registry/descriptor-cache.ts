/**
 * Caches of global blob sizes. Blob data is immutable per digest, so an entry only goes stale
 * when garbage collection deletes the blob, which then evicts it. The interface is async so a
 * shared implementation (Redis) can slot in beside the in-memory one.
 */
import { createLruMap } from './lru.js';
import type { Digest, RepositoryName } from './names.js';

export interface DescriptorCache {
  /** @returns the blob's size in bytes, or undefined when not cached. Never rejects for a miss. */
  get(digest: Digest): Promise<number | undefined>;
  /** Records the blob's size; idempotent. */
  set(digest: Digest, size: number): Promise<void>;
  /** Forgets the blob (after it was deleted from storage); idempotent. */
  delete(digest: Digest): Promise<void>;
  /**
   * Which blobs each repository links, when the cache can be kept right across every process
   * serving the storage (Redis). Absent for in-process caches: a link deleted through one
   * replica would stay cached in the others.
   */
  readonly links?: LinkCache | undefined;
}

/** How a repository links a blob: `_layers` or `_manifests/revisions`. */
export type LinkKind = 'layer' | 'manifest';

export interface CachedLink {
  /** The blob's size in bytes. */
  size: number;
  /** The kinds of link known to exist; undefined when the entry does not say (written by registry:2). */
  kinds: ReadonlySet<LinkKind> | undefined;
}

/**
 * Positive facts only ("repository R links blob D"): a miss always goes to storage, so a blob
 * linked by another replica a moment ago is never reported missing. Every method resolves
 * (never rejects) whether or not the backing store answered.
 */
export interface LinkCache {
  /** What is known about `digest` in `name`, or undefined on a miss. */
  get(name: RepositoryName, digest: Digest): Promise<CachedLink | undefined>;
  /** Records that `name` links `digest` as `kind` (after storage said so); merges with other kinds. */
  set(name: RepositoryName, digest: Digest, kind: LinkKind, size: number): Promise<void>;
  /** Forgets every kind of link of `digest` in `name` (after a link was deleted); idempotent. */
  delete(name: RepositoryName, digest: Digest): Promise<void>;
}

export const DEFAULT_DESCRIPTOR_CACHE_ENTRIES = 10_000;

/** An in-process cache bounded to `maxEntries` (default 10 000) with LRU eviction. */
export function createMemoryDescriptorCache(opts: { maxEntries?: number } = {}): DescriptorCache {
  const sizes = createLruMap<Digest, number>(opts.maxEntries ?? DEFAULT_DESCRIPTOR_CACHE_ENTRIES);
  return {
    async get(digest) {
      return sizes.get(digest);
    },
    async set(digest, size) {
      sizes.set(digest, size);
    },
    async delete(digest) {
      sizes.delete(digest);
    },
  };
}
