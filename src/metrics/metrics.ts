/**
 * The Prometheus metrics of one server (`http.debug.prometheus`), built on prom-client. Each
 * server has its own registry, so several servers in one process (tests) never share counters;
 * the process metrics (CPU, memory, event loop, GC — prom-client's default metrics) live in one
 * registry per process and are merged in at scrape time.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import { type CacheMetrics, createCacheMetrics } from './cache-metrics.js';
import { createRequestMetrics, type RequestObserver } from './http-metrics.js';
import { createStorageMetrics, type StorageMetrics } from './storage-metrics.js';

/** A rendered scrape. */
export interface Exposition {
  /** The `Content-Type` of the text format. */
  contentType: string;
  body: string;
}

export interface RegistryMetrics {
  /** This server's metrics, without the process metrics. */
  readonly registry: Registry;
  /** The dispatcher's per-request hook. */
  readonly requests: RequestObserver;
  /** What the storage-driver decorator records into. */
  readonly storage: StorageMetrics;
  /** What the descriptor-cache decorator records into. */
  readonly cache: CacheMetrics;
  /** This server's metrics and the process metrics in Prometheus' text format. */
  render(): Promise<Exposition>;
}

let processMetrics: Registry | undefined;

/** The process-wide registry of prom-client's default metrics, created on first use. */
export function processRegistry(): Registry {
  if (processMetrics === undefined) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

export function createRegistryMetrics(): RegistryMetrics {
  const registry = new Registry();
  return {
    registry,
    requests: createRequestMetrics(registry),
    storage: createStorageMetrics(registry),
    cache: createCacheMetrics(registry),
    async render() {
      const merged = Registry.merge([processRegistry(), registry]);
      return { contentType: merged.contentType, body: await merged.metrics() };
    },
  };
}
