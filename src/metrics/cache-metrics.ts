/**
 * Descriptor-cache hit and miss counters, as a decorator around any {@link DescriptorCache}
 * (in-process or Redis). Names follow registry:2 (`registry_storage_cache_requests_total`,
 * `…_hits_total`, `…_errors_total`) plus `…_misses_total`, each labelled with the cache consulted:
 * `blobdescriptor` (global blob sizes) or `links` (which repository links which blob).
 */
import { Counter, type Registry } from 'prom-client';
import type { DescriptorCache, LinkCache } from '../registry/descriptor-cache.js';

export type CacheName = 'blobdescriptor' | 'links';

/** Counts lookups; one per metrics registry. */
export interface CacheMetrics {
  /** Records one lookup in `cache` and whether it found the entry (`error` when it rejected). */
  lookup(cache: CacheName, outcome: 'hit' | 'miss' | 'error'): void;
}

export function createCacheMetrics(registry: Registry): CacheMetrics {
  const registers = [registry];
  const labelNames = ['cache'] as const;
  const requests = new Counter({
    name: 'registry_storage_cache_requests_total',
    help: 'Descriptor cache lookups.',
    labelNames,
    registers,
  });
  const outcomes = {
    hit: new Counter({
      name: 'registry_storage_cache_hits_total',
      help: 'Descriptor cache lookups answered from the cache.',
      labelNames,
      registers,
    }),
    miss: new Counter({
      name: 'registry_storage_cache_misses_total',
      help: 'Descriptor cache lookups that went to storage.',
      labelNames,
      registers,
    }),
    error: new Counter({
      name: 'registry_storage_cache_errors_total',
      help: 'Descriptor cache lookups that failed.',
      labelNames,
      registers,
    }),
  };
  return {
    lookup(cache, outcome) {
      requests.labels(cache).inc();
      outcomes[outcome].labels(cache).inc();
    },
  };
}

async function counted<T>(
  metrics: CacheMetrics,
  cache: CacheName,
  lookup: () => Promise<T | undefined>,
): Promise<T | undefined> {
  try {
    const found = await lookup();
    metrics.lookup(cache, found === undefined ? 'miss' : 'hit');
    return found;
  } catch (error) {
    metrics.lookup(cache, 'error');
    throw error;
  }
}

/** `cache` with its lookups counted; writes and invalidations pass straight through. */
export function withCacheMetrics(cache: DescriptorCache, metrics: CacheMetrics): DescriptorCache {
  const inner = cache.links;
  const links: LinkCache | undefined =
    inner === undefined
      ? undefined
      : {
          get: (name, digest) => counted(metrics, 'links', () => inner.get(name, digest)),
          set: (name, digest, kind, size) => inner.set(name, digest, kind, size),
          delete: (name, digest) => inner.delete(name, digest),
        };
  return {
    get: (digest) => counted(metrics, 'blobdescriptor', () => cache.get(digest)),
    set: (digest, size) => cache.set(digest, size),
    delete: (digest) => cache.delete(digest),
    links,
  };
}
