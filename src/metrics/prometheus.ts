/**
 * Everything of the metrics that needs prom-client, in one module that observability.ts loads
 * only when `http.debug.prometheus` is enabled: prom-client (with OpenTelemetry's API) is about
 * eighty modules, a good share of the start-up of a server that never exports metrics.
 */
export { withCacheMetrics } from './cache-metrics.js';
export { createRegistryMetrics } from './metrics.js';
export { watchHealth, watchNotifications, watchRedis } from './state-metrics.js';
export { withStorageMetrics } from './storage-metrics.js';
