/**
 * The shared descriptor cache an offline collection must clear. With
 * `storage.cache.blobdescriptor: redis` the running replicas (or the next ones) trust Redis for
 * blob sizes and repository links; a blob deleted behind their back would keep answering `HEAD`
 * from the cache until the entry expires, and a pull of it would then fail. So the command
 * connects to the same Redis and forgets each blob and link it deletes. Unreachable Redis is an
 * error before anything is deleted, not a silent skip.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { createGuardedRedis, type GuardedRedis } from '../redis/client.js';
import type { DescriptorCache } from '../registry/descriptor-cache.js';
import { createRedisDescriptorCache } from '../registry/redis-descriptor-cache.js';

const CONNECT_TIMEOUT_MS = 5_000;

export interface CollectionCache {
  cache: DescriptorCache;
  /** Whether every invalidation reached Redis (it stayed up for the whole run). */
  intact(): boolean;
  close(): Promise<void>;
}

function waitUntilUp(redis: GuardedRedis, timeoutMs: number): Promise<boolean> {
  if (redis.status().state === 'up') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    redis.onUp(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * @returns undefined when the configuration caches in process only (nothing outlives the servers).
 * @throws Error when Redis is configured but does not answer.
 */
export async function openCollectionCache(
  config: Config,
  logger: Logger,
  timeoutMs = CONNECT_TIMEOUT_MS,
): Promise<CollectionCache | undefined> {
  if (config.storage.cache?.blobdescriptor !== 'redis' || config.redis?.addr === undefined) return undefined;
  const redis = createGuardedRedis(config.redis, logger);
  redis.connect();
  if (!(await waitUntilUp(redis, timeoutMs))) {
    const { addr, lastError } = redis.status();
    await redis.close();
    throw new Error(
      `redis at ${addr} does not answer (${lastError ?? 'no reply'}): the blob descriptor cache could not be ` +
        'cleared of what is deleted; start Redis, or run with --dry-run',
    );
  }
  const upSince = redis.status().since.getTime();
  return {
    cache: createRedisDescriptorCache({ redis, maxLocalEntries: 1 }),
    // Up now, and not since a later reconnection: no invalidation was skipped meanwhile.
    intact: () => {
      const status = redis.status();
      return status.state === 'up' && status.since.getTime() === upSince;
    },
    close: () => redis.close(),
  };
}
