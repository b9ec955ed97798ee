/**
 * What the server wires in for `http.debug` and `health`: the metrics decorators (storage driver,
 * descriptor cache) and the dispatcher's request observer when Prometheus is enabled, the health
 * checks whose failure makes every request answer 503, and the debug listener. Under
 * `http.workers` a worker never listens on the debug address: it answers its primary instead
 * (see cluster.ts).
 */
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { healthChecksFromConfig } from '../health/from-config.js';
import { createHealthRegistry, type HealthRegistry } from '../health/health.js';
import { type DebugServer, type HealthReport, normalizeMetricsPath, startDebugServer } from '../http/debug-server.js';
import type { EndpointStats } from '../notify/endpoint.js';
import type { RedisStatus } from '../redis/client.js';
import type { DescriptorCache } from '../registry/descriptor-cache.js';
import type { StorageDriver } from '../storage/driver.js';
import type { RequestObserver } from './http-metrics.js';
import type { RegistryMetrics } from './metrics.js';

/** What the running server hands over once everything is built. */
export interface ObservedSources {
  /** The storage driver the registry serves from (checked by `health.storagedriver`). */
  driver: StorageDriver;
  /** The Redis connection behind the descriptor cache, if any. */
  redis?: { status(): RedisStatus } | undefined;
  /** Notification endpoints' counters. */
  notifications?: { stats(): EndpointStats[] } | undefined;
}

export interface Observability {
  /** `driver` with storage metrics when Prometheus is enabled, else `driver` itself. */
  wrapDriver(driver: StorageDriver): StorageDriver;
  /** `cache` with hit/miss counters when Prometheus is enabled, else `cache` itself. */
  wrapCache(cache: DescriptorCache): DescriptorCache;
  /** The dispatcher's request hook; undefined without Prometheus (no per-request cost). */
  readonly requests: RequestObserver | undefined;
  /** Whether some critical health check is failing (false until started). */
  unhealthy(): boolean;
  /** The current health report, as `/debug/health` answers it. */
  report(): HealthReport;
  /**
   * Starts the health checks and the debug listener.
   * @throws Error when the health configuration is invalid or the debug address cannot be bound.
   */
  start(sources: ObservedSources): Promise<void>;
  /** The debug listener's URL once started (undefined without one, and in cluster workers). */
  readonly debugUrl: string | undefined;
  /** Stops the checks and the debug listener; idempotent. */
  close(): Promise<void>;
}

/**
 * Builds the observability `config` asks for. The metrics modules (prom-client) and the cluster
 * answering are loaded only when configured.
 */
export async function createObservability(config: Config, options: { logger: Logger }): Promise<Observability> {
  const { logger } = options;
  const debug = config.http.debug;
  const debugAddr = debug?.addr === undefined || debug.addr === '' ? undefined : debug.addr;
  const prometheus = debug?.prometheus?.enabled === true;
  if (prometheus && debugAddr === undefined && !cluster.isWorker) {
    logger.warn('http.debug.prometheus.enabled has no effect without http.debug.addr');
  }
  const prom = prometheus && debugAddr !== undefined ? await import('./prometheus.js') : undefined;
  const metrics: RegistryMetrics | undefined = prom?.createRegistryMetrics();
  let health: HealthRegistry | undefined;
  let server: DebugServer | undefined;
  let stopAnswering: (() => void) | undefined;
  let closing: Promise<void> | undefined;

  const report = (): HealthReport => ({ failing: health?.status() ?? {}, unhealthy: health?.unhealthy() ?? false });

  return {
    wrapDriver: (driver) =>
      prom === undefined || metrics === undefined ? driver : prom.withStorageMetrics(driver, metrics.storage),
    wrapCache: (cache) =>
      prom === undefined || metrics === undefined ? cache : prom.withCacheMetrics(cache, metrics.cache),
    requests: metrics?.requests,
    unhealthy: () => health?.unhealthy() ?? false,
    report,
    get debugUrl() {
      return server?.url;
    },

    async start(sources) {
      const specs = healthChecksFromConfig(config, sources);
      health = createHealthRegistry(specs, logger);
      if (prom !== undefined && metrics !== undefined) {
        prom.watchHealth(metrics.registry, health);
        if (sources.notifications !== undefined) prom.watchNotifications(metrics.registry, sources.notifications);
        if (sources.redis !== undefined) prom.watchRedis(metrics.registry, sources.redis);
      }
      if (debugAddr !== undefined) {
        if (cluster.isWorker) {
          const { answerPrimary } = await import('./cluster.js');
          stopAnswering = answerPrimary(metrics?.registry, report);
        } else {
          server = await startDebugServer({
            addr: debugAddr,
            logger,
            health: report,
            metrics:
              metrics === undefined
                ? undefined
                : { path: normalizeMetricsPath(debug?.prometheus?.path), render: () => metrics.render() },
          });
        }
      }
      if (specs.length > 0) {
        logger.info({ checks: specs.map((spec) => spec.name) }, 'health checks on');
      }
      health.start();
    },

    close() {
      closing ??= (async () => {
        health?.stop();
        stopAnswering?.();
        await server?.close();
      })();
      return closing;
    },
  };
}
