/**
 * What replicas of one registry share besides storage, built from the configuration: the secret
 * that signs upload URLs (`http.secret`), the way uploads hash (resumable across processes when
 * the secret is shared), and the blob descriptor cache (`storage.cache.blobdescriptor`, in
 * process or in Redis). The server owns the result and closes it after draining.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { createGuardedRedis, type RedisStatus } from '../redis/client.js';
import {
  createMemoryDescriptorCache,
  DEFAULT_DESCRIPTOR_CACHE_ENTRIES,
  type DescriptorCache,
} from '../registry/descriptor-cache.js';
import { createRedisDescriptorCache } from '../registry/redis-descriptor-cache.js';
import { nativeSha256, type RunningHashFactory, resumableSha256 } from '../registry/upload-hash.js';
import {
  createUploadStateCodec,
  generateSecret,
  RANDOM_SECRET_WARNING,
  type UploadStateCodec,
} from './upload-state.js';

export interface SharedState {
  /** Signs and checks upload URLs' `_state`. */
  uploadState: UploadStateCodec;
  /** The running hash of uploads: resumable from storage when other processes share the secret. */
  uploadHashes: RunningHashFactory;
  /** The blob descriptor cache the registry is built with. */
  descriptorCache: DescriptorCache;
  /** The Redis connection's state when Redis backs the cache, for health checks and metrics. */
  redis: { status(): RedisStatus } | undefined;
  /** Opens the Redis connection, if any: once the server listens, so a failed start leaves nothing open. */
  start(): void;
  /** Closes the Redis connection, if any; idempotent. */
  close(): Promise<void>;
}

export const CACHE_TYPES = ['inmemory', 'redis'] as const;

/**
 * @throws Error when `storage.cache.blobdescriptor` names an unknown cache, or `redis` without
 *   `redis.addr`.
 */
export function createSharedState(config: Config, logger: Logger, opts: { secretIsLocal?: boolean } = {}): SharedState {
  let secret = config.http.secret;
  if (secret === undefined || secret === '') {
    secret = generateSecret();
    logger.warn(RANDOM_SECRET_WARNING);
  }
  // Without a configured secret no other process accepts our upload URLs, so a saved hash state
  // could never be used: keep the faster native hash. The same with a secret the cluster primary
  // made up (`secretIsLocal`): only this machine's workers share it, and their clients keep an
  // upload's PATCHes on one connection, hence on one worker, almost always. Measured on the 2-core
  // machine with `http.workers: 2` (bench/upload-hash.ts), the savable hash made every 256 MiB
  // append take 0.5 s longer. A PUT that lands on the other worker (Go clients send it on a new
  // connection) checks the sha256 its upload URL carries instead (upload-state.ts); only a PATCH
  // continuing on the other worker re-reads the data, 1.5–1.8 s per 256 MiB from local disk.
  const shared = config.http.secret !== undefined && config.http.secret !== '' && opts.secretIsLocal !== true;

  const cacheType = config.storage.cache?.blobdescriptor ?? 'inmemory';
  const maxEntries = config.storage.cache?.blobdescriptorsize ?? DEFAULT_DESCRIPTOR_CACHE_ENTRIES;
  if (!(CACHE_TYPES as readonly string[]).includes(cacheType)) {
    throw new Error(
      `storage.cache.blobdescriptor: unknown cache ${JSON.stringify(cacheType)} (expected ${CACHE_TYPES.join(' or ')})`,
    );
  }
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new Error('storage.cache.blobdescriptorsize must be a positive integer');
  }

  let descriptorCache: DescriptorCache = createMemoryDescriptorCache({ maxEntries });
  let redis: ReturnType<typeof createGuardedRedis> | undefined;
  if (cacheType === 'redis') {
    if (config.redis?.addr === undefined) {
      throw new Error('storage.cache.blobdescriptor is redis but redis.addr is not set');
    }
    redis = createGuardedRedis(config.redis, logger);
    descriptorCache = createRedisDescriptorCache({ redis, maxLocalEntries: maxEntries });
  }

  return {
    uploadState: createUploadStateCodec(secret),
    uploadHashes: shared ? resumableSha256 : nativeSha256,
    descriptorCache,
    redis,
    start: () => redis?.connect(),
    close: async () => {
      await redis?.close();
    },
  };
}
