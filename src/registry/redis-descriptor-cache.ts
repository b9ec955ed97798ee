/**
 * `storage.cache.blobdescriptor: redis`: blob sizes and per-repository links cached in Redis,
 * shared by every replica, so a blob `HEAD`/`GET` or a manifest `HEAD` by digest is answered
 * without reading link files, and a blob `GET` costs one ranged read of storage.
 *
 * Keys and hash fields are distribution's (`blobs::<digest>`, `repository::<name>::blobs` and
 * `repository::<name>::blobs::<digest>` with `digest`, `size`, `mediatype`), so Berth and
 * registry:2 replicas can share one Redis during a migration: each reads what the other wrote,
 * and each one's invalidations clear the other's entries. Berth adds the fields `berth.layer` and
 * `berth.manifest` to say which link exists (registry:2 ignores them), and an expiry on its
 * entries ({@link LINK_TTL_SECONDS}, {@link BLOB_TTL_SECONDS}) so that a link removed behind the
 * registry's back (an offline garbage collection, a restore) is not believed forever.
 *
 * In front of Redis, blob sizes are also kept in a process-local LRU: a digest's size never
 * changes. Redis unreachable → every method resolves as a miss or a no-op at once (see
 * redis/client.ts); invalidations that could not be sent are remembered (bounded) and replayed
 * when Redis is back, so a deleted link does not come back from the cache.
 */
import type { Redis } from 'ioredis';
import type { GuardedRedis, RedisStatus } from '../redis/client.js';
import {
  type CachedLink,
  createMemoryDescriptorCache,
  DEFAULT_DESCRIPTOR_CACHE_ENTRIES,
  type DescriptorCache,
  type LinkCache,
  type LinkKind,
} from './descriptor-cache.js';
import { MEDIA_TYPES } from './media-types.js';
import type { Digest, RepositoryName } from './names.js';

/** How long a cached link is believed without storage being asked again. */
export const LINK_TTL_SECONDS = 60 * 60;
/** How long a cached blob size is kept (blob data only disappears through garbage collection). */
export const BLOB_TTL_SECONDS = 24 * 60 * 60;
/** Invalidations kept while Redis is down; past that the oldest are dropped (the TTL still bounds them). */
const MAX_PENDING_INVALIDATIONS = 10_000;

const KIND_FIELDS: Readonly<Record<LinkKind, string>> = { layer: 'berth.layer', manifest: 'berth.manifest' };

/** distribution's key of a blob's global descriptor hash. */
export function blobKey(digest: Digest): string {
  return `blobs::${digest}`;
}

/** distribution's key of the set of digests a repository links. */
export function repositoryBlobsKey(name: RepositoryName): string {
  return `repository::${name}::blobs`;
}

/** distribution's key of a repository's descriptor of one blob. */
export function repositoryBlobKey(name: RepositoryName, digest: Digest): string {
  return `repository::${name}::blobs::${digest}`;
}

export interface RedisDescriptorCache extends DescriptorCache {
  readonly links: LinkCache;
  /** The Redis connection's state, for health checks and metrics. */
  status(): RedisStatus;
}

export interface RedisDescriptorCacheOptions {
  /** The guarded connection; its owner closes it. */
  redis: GuardedRedis;
  /** Entries of the process-local size LRU (`storage.cache.blobdescriptorsize`). */
  maxLocalEntries?: number | undefined;
}

function parseSize(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || !/^\d{1,16}$/.test(value)) return undefined;
  const size = Number(value);
  return Number.isSafeInteger(size) ? size : undefined;
}

export function createRedisDescriptorCache(options: RedisDescriptorCacheOptions): RedisDescriptorCache {
  const { redis } = options;
  const local = createMemoryDescriptorCache({
    maxEntries: options.maxLocalEntries ?? DEFAULT_DESCRIPTOR_CACHE_ENTRIES,
  });
  /** Invalidations not yet delivered, by key, in insertion order. */
  const pending = new Map<string, (client: Redis) => Promise<unknown>>();

  async function invalidate(key: string, fn: (client: Redis) => Promise<unknown>): Promise<void> {
    pending.delete(key);
    const done = await redis.run(async (client) => {
      await fn(client);
      return true;
    });
    if (done === true) return;
    pending.set(key, fn);
    if (pending.size > MAX_PENDING_INVALIDATIONS) {
      const oldest = pending.keys().next();
      if (!oldest.done) pending.delete(oldest.value);
    }
  }

  redis.onUp(() => {
    const replay = [...pending.entries()];
    pending.clear();
    for (const [key, fn] of replay) void invalidate(key, fn);
  });

  const links: LinkCache = {
    async get(name, digest) {
      const fields = await redis.run((client) =>
        client.hmget(repositoryBlobKey(name, digest), 'size', KIND_FIELDS.layer, KIND_FIELDS.manifest, 'digest'),
      );
      if (fields === undefined) return undefined;
      const [sizeText, layer, manifest, stored] = fields;
      const size = parseSize(sizeText);
      if (size === undefined || stored !== digest) return undefined;
      const kinds = new Set<LinkKind>();
      if (layer === '1') kinds.add('layer');
      if (manifest === '1') kinds.add('manifest');
      return { size, kinds: kinds.size === 0 ? undefined : kinds } satisfies CachedLink;
    },

    async set(name, digest, kind, size) {
      // Storage has just said the link exists: a delete still waiting for Redis is obsolete.
      pending.delete(repositoryBlobKey(name, digest));
      await redis.run(async (client) => {
        const key = repositoryBlobKey(name, digest);
        await client
          .multi()
          .hset(key, {
            digest,
            size: String(size),
            mediatype: MEDIA_TYPES.octetStream,
            [KIND_FIELDS[kind]]: '1',
          })
          .expire(key, LINK_TTL_SECONDS)
          .sadd(repositoryBlobsKey(name), digest)
          .exec();
      });
    },

    async delete(name, digest) {
      const key = repositoryBlobKey(name, digest);
      await invalidate(key, (client) => client.multi().del(key).srem(repositoryBlobsKey(name), digest).exec());
    },
  };

  return {
    links,

    async get(digest) {
      const known = await local.get(digest);
      if (known !== undefined) return known;
      const size = parseSize(await redis.run((client) => client.hget(blobKey(digest), 'size')));
      if (size !== undefined) await local.set(digest, size);
      return size;
    },

    async set(digest, size) {
      await local.set(digest, size);
      await redis.run(async (client) => {
        const key = blobKey(digest);
        await client
          .multi()
          .hset(key, { digest, size: String(size), mediatype: MEDIA_TYPES.octetStream })
          .expire(key, BLOB_TTL_SECONDS)
          .exec();
      });
    },

    async delete(digest) {
      await local.delete(digest);
      const key = blobKey(digest);
      await invalidate(key, (client) => client.del(key));
    },

    status: () => redis.status(),
  };
}
