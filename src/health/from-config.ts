/**
 * Turns config.yml's `health` section into check specifications, named and defaulted as
 * distribution's `RegisterHealthChecks` does: `storagedriver_<driver>`, each file path, each HTTP
 * URI, each TCP address; a zero interval means 10 s and a zero status code 200. Berth adds a
 * `redis` check when Redis backs the descriptor cache (reported, never making the registry
 * unavailable: the cache falls back to storage while Redis is down).
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { RedisStatus } from '../redis/client.js';
import type { StorageDriver } from '../storage/driver.js';
import { fileCheck, httpCheck, redisCheck, storageCheck, tcpCheck } from './checks.js';
import type { CheckSpec } from './health.js';

/** distribution's `defaultCheckInterval`. */
export const DEFAULT_CHECK_INTERVAL_MS = 10_000;
/** Where each process's storage check writes its probe object (registry:2 never looks there). */
export const HEALTH_PROBE_DIR = '/berth/health';

// Reading the connection state costs nothing, so it is looked at often.
const REDIS_CHECK_INTERVAL_MS = 1_000;

export interface HealthSources {
  /** The storage driver the registry serves from. */
  driver: StorageDriver;
  /** The Redis connection behind the descriptor cache, when there is one. */
  redis?: { status(): RedisStatus } | undefined;
  /** The name of this process's probe object (default: a random UUID). */
  instanceID?: string | undefined;
}

function interval(ms: number | undefined): number {
  return ms !== undefined && ms > 0 ? ms : DEFAULT_CHECK_INTERVAL_MS;
}

/**
 * A check's timeout: its own when set, else one interval but at least 10 s, so a short interval
 * on a busy machine (an fsync taking 100 ms) does not turn into false failures; never unbounded.
 */
function timeout(ms: number | undefined, every: number): number {
  return ms !== undefined && ms > 0 ? ms : Math.max(every, DEFAULT_CHECK_INTERVAL_MS);
}

/** The checks `config` asks for, in distribution's order: storage, files, HTTP, TCP, then Redis. */
export function healthChecksFromConfig(config: Config, sources: HealthSources): CheckSpec[] {
  const health = config.health;
  const specs: CheckSpec[] = [];
  const storage = health?.storagedriver;
  if (storage?.enabled === true) {
    const every = interval(storage.interval);
    // A store switched to read-only on purpose must not be reported broken for refusing writes.
    const probePath = config.storage.maintenance.readonly.enabled
      ? undefined
      : `${HEALTH_PROBE_DIR}/${sources.instanceID ?? randomUUID()}`;
    specs.push({
      name: `storagedriver_${sources.driver.name}`,
      check: storageCheck(sources.driver, { probePath }),
      intervalMs: every,
      threshold: storage.threshold,
      timeoutMs: timeout(undefined, every),
      critical: true,
    });
  }
  for (const file of health?.file ?? []) {
    const every = interval(file.interval);
    specs.push({
      name: file.file,
      check: fileCheck(file.file),
      intervalMs: every,
      threshold: 1,
      timeoutMs: timeout(undefined, every),
      critical: true,
    });
  }
  for (const http of health?.http ?? []) {
    const every = interval(http.interval);
    specs.push({
      name: http.uri,
      check: httpCheck({ uri: http.uri, headers: http.headers, statusCode: http.statuscode || 200 }),
      intervalMs: every,
      threshold: http.threshold,
      timeoutMs: timeout(http.timeout, every),
      critical: true,
    });
  }
  for (const tcp of health?.tcp ?? []) {
    const every = interval(tcp.interval);
    specs.push({
      name: tcp.addr,
      check: tcpCheck(tcp.addr),
      intervalMs: every,
      threshold: tcp.threshold,
      timeoutMs: timeout(tcp.timeout, every),
      critical: true,
    });
  }
  if (sources.redis !== undefined) {
    specs.push({
      name: 'redis',
      check: redisCheck(sources.redis),
      intervalMs: REDIS_CHECK_INTERVAL_MS,
      threshold: 1,
      timeoutMs: REDIS_CHECK_INTERVAL_MS,
      critical: false,
    });
  }
  return specs;
}
