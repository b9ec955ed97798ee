/**
 * Caches of global blob sizes. Blob data is immutable per digest, so an entry only goes stale
 * when garbage collection deletes the blob, which then evicts it. The interface is async so a
 * shared implementation (Redis) can slot in beside the in-memory one.
 */
import { createLruMap } from './lru.js';
import type { Digest } from './names.js';

export interface DescriptorCache {
  /** @returns the blob's size in bytes, or undefined when not cached. Never rejects for a miss. */
  get(digest: Digest): Promise<number | undefined>;
  /** Records the blob's size; idempotent. */
  set(digest: Digest, size: number): Promise<void>;
  /** Forgets the blob (after it was deleted from storage); idempotent. */
  delete(digest: Digest): Promise<void>;
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
