/**
 * Which configuration keys Berth acts on. This is the one place to edit when a feature lands:
 * move its key from {@link NOT_SUPPORTED_YET} to {@link SUPPORTED_KEYS}. A test checks that every key
 * of the schema is in exactly one of the two lists, so nothing is ever silently ignored.
 */
import { isPlainObject } from './schema-walk.js';

/** Keys (and everything under them) that Berth implements. */
export const SUPPORTED_KEYS: readonly string[] = [
  'version',
  'log.level',
  'log.formatter',
  'log.fields',
  'log.accesslog',
  'storage.filesystem',
  'storage.inmemory',
  'storage.azure',
  'storage.s3',
  'middleware.storage',
  'storage.delete',
  'storage.redirect',
  'storage.maintenance.readonly',
  'storage.maintenance.uploadpurging',
  'storage.maintenance.gc',
  'http.addr',
  'http.net',
  'http.host',
  'http.prefix',
  'http.relativeurls',
  'http.secret',
  'http.headers',
  'http.draintimeout',
  'auth.silly',
  'auth.token',
  'auth.htpasswd',
  'access',
  'http.tls',
  'http.limits',
  'http.workers',
  'http.trustedproxies',
  'http.debug',
  'health.storagedriver',
  'health.file',
  'health.http',
  'health.tcp',
  'storage.cache',
  'redis.addr',
  'redis.username',
  'redis.password',
  'redis.db',
  'redis.dialtimeout',
  'redis.readtimeout',
  'redis.writetimeout',
  'redis.pool',
  'redis.tls',
  'notifications.events',
  'notifications.endpoints',
  'catalog.maxentries',
];

/** Keys Berth accepts but does not act on yet; `serve` logs each one that is set. */
export const NOT_SUPPORTED_YET: readonly string[] = [
  'log.reportcaller',
  'storage.gcs',
  'storage.tag',
  'middleware.registry',
  'middleware.repository',
  'http.http2',
  'http.h2c',
  'redis.addrs',
  'redis.poolsize',
  'redis.minidleconns',
  'redis.maxidleconns',
  'proxy',
  'validation.enabled',
  'validation.disabled',
  'validation.manifests',
  'compatibility.schema1',
];

/**
 * The entries of {@link NOT_SUPPORTED_YET} that are set in `raw` (the configuration as written,
 * after the environment overlay and before defaults), in list order.
 */
export function findNotSupportedYet(raw: unknown): string[] {
  return NOT_SUPPORTED_YET.filter((key) => {
    let node: unknown = raw;
    for (const part of key.split('.')) {
      if (!isPlainObject(node)) return false;
      node = node[part];
    }
    return node !== undefined;
  });
}
