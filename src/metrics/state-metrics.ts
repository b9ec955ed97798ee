/**
 * Metrics read from other modules' state when Prometheus scrapes, rather than counted on the way:
 * notification endpoints' counters (registry:2's `registry_notifications_*` names and labels),
 * health checks, and the Redis connection.
 */
import { STATUS_CODES } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { HealthRegistry } from '../health/health.js';
import type { EndpointStats } from '../notify/endpoint.js';
import type { RedisStatus } from '../redis/client.js';

/** registry:2 labels a delivery status as "200 OK". */
function statusLabel(code: string): string {
  const text = STATUS_CODES[Number(code)];
  return text === undefined ? code : `${code} ${text}`;
}

/** Exposes the notification endpoints' counters (see notify/endpoint.ts). */
export function watchNotifications(registry: Registry, source: { stats(): EndpointStats[] }): void {
  const registers = [registry];
  new Counter({
    name: 'registry_notifications_events_total',
    help: 'Notification events by endpoint: type Events (queued), Successes (delivered), Failures (failed attempts).',
    labelNames: ['type', 'endpoint'] as const,
    registers,
    collect() {
      this.reset();
      for (const stats of source.stats()) {
        this.labels('Events', stats.name).inc(stats.events);
        this.labels('Successes', stats.name).inc(stats.successes);
        this.labels('Failures', stats.name).inc(stats.failures);
      }
    },
  });
  new Counter({
    name: 'registry_notifications_status_total',
    help: 'Notification deliveries by endpoint and HTTP status answered.',
    labelNames: ['code', 'endpoint'] as const,
    registers,
    collect() {
      this.reset();
      for (const stats of source.stats()) {
        for (const [code, count] of Object.entries(stats.statuses))
          this.labels(statusLabel(code), stats.name).inc(count);
      }
    },
  });
  new Gauge({
    name: 'registry_notifications_pending',
    help: 'Notification events queued and not yet delivered, by endpoint.',
    labelNames: ['endpoint'] as const,
    registers,
    collect() {
      this.reset();
      for (const stats of source.stats()) this.labels(stats.name).set(stats.pending);
    },
  });
  new Gauge({
    name: 'registry_notifications_endpoint_failing',
    help: '1 while an endpoint has failed threshold deliveries in a row, else 0.',
    labelNames: ['endpoint'] as const,
    registers,
    aggregator: 'max',
    collect() {
      this.reset();
      for (const stats of source.stats()) this.labels(stats.name).set(stats.state === 'failing' ? 1 : 0);
    },
  });
}

/** Exposes each health check's state: 1 while failing. */
export function watchHealth(registry: Registry, health: HealthRegistry): void {
  new Gauge({
    name: 'registry_health_check_failing',
    help: '1 while a health check is failing (as /debug/health reports it), else 0.',
    labelNames: ['check'] as const,
    registers: [registry],
    aggregator: 'max',
    collect() {
      const failing = health.status();
      for (const name of health.names()) this.labels(name).set(Object.hasOwn(failing, name) ? 1 : 0);
    },
  });
}

/** Exposes whether the Redis connection is up. */
export function watchRedis(registry: Registry, source: { status(): RedisStatus }): void {
  new Gauge({
    name: 'registry_redis_up',
    help: '1 while the Redis connection behind the descriptor cache is up, else 0.',
    registers: [registry],
    aggregator: 'min',
    collect() {
      this.set(source.status().state === 'up' ? 1 : 0);
    },
  });
}
