/**
 * Notifications as the server uses them, built from `notifications:` in config.yml: the enabled
 * endpoints with their durable queues, the instance keeper that adopts abandoned queues, the
 * event factory and the registry decorator.
 *
 * An event is written to every endpoint's queue before the client's request completes, so a
 * crash after the response loses nothing; the wait is capped at {@link STORE_WAIT_MS} so that
 * storage trouble delays a request by at most that, and never fails it.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Registry } from '../registry/types.js';
import type { StorageDriver } from '../storage/driver.js';
import { withNotifications } from './decorator.js';
import { createEndpoint, type Endpoint, type EndpointSettings, type EndpointStats } from './endpoint.js';
import { createEventFactory, type Event, type EventSource } from './event.js';
import { createInstanceKeeper, queueKey } from './instances.js';
import { createDurableQueue } from './queue.js';

export const DEFAULT_TIMEOUT_MS = 1000;
export const DEFAULT_THRESHOLD = 10;
export const DEFAULT_BACKOFF_MS = 1000;
export const STORE_WAIT_MS = 2000;
export const HEARTBEAT_MS = 10_000;
export const STALE_MS = 60_000;

export type NotificationsConfig = NonNullable<Config['notifications']>;

export interface Notifications {
  /** The registry with the notifying decorator, or `registry` itself when no endpoint is enabled. */
  wrap(registry: Registry): Registry;
  /** Whether `wrap` decorates: the decorator reads each request's context (http/context.ts). */
  readonly active: boolean;
  /** Adopts queues left by stopped instances, then starts delivering. Call before serving requests. */
  start(): Promise<void>;
  /** Per-endpoint counters, in configuration order (for metrics). */
  stats(): EndpointStats[];
  /** Stops delivery and leaves undelivered events for the next instance; call after the server drained. */
  close(): Promise<void>;
}

export interface NotificationsOptions {
  logger: Logger;
  /** This process's instance id (default: a random UUID, as in distribution). */
  instanceID?: string;
  /** How often the instance heartbeat is written and abandoned queues are looked for. */
  heartbeatMs?: number;
  /** How long without a heartbeat before an instance's queues are adopted. */
  staleMs?: number;
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && value > 0 ? value : fallback;
}

/**
 * Validates and resolves the enabled endpoints.
 * @throws Error naming the endpoint when its url is not http(s) or two endpoints share a name.
 */
export function resolveEndpoints(config: NotificationsConfig | undefined): EndpointSettings[] {
  const out: EndpointSettings[] = [];
  const keys = new Set<string>();
  for (const [index, endpoint] of (config?.endpoints ?? []).entries()) {
    const where = `notifications.endpoints[${index}] (${JSON.stringify(endpoint.name)})`;
    if (endpoint.name === '') throw new Error(`notifications.endpoints[${index}]: name must not be empty`);
    const key = queueKey(endpoint.name);
    if (keys.has(key)) throw new Error(`${where}: another endpoint has the same name`);
    keys.add(key);
    if (endpoint.disabled) continue;
    let url: URL;
    try {
      url = new URL(endpoint.url);
    } catch {
      throw new Error(`${where}: url ${JSON.stringify(endpoint.url)} is not an absolute URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`${where}: url must be http or https`);
    }
    const ignored = [...(endpoint.ignoredmediatypes ?? []), ...(endpoint.ignore?.mediatypes ?? [])];
    out.push({
      name: endpoint.name,
      url,
      headers: endpoint.headers ?? {},
      timeoutMs: positive(endpoint.timeout, DEFAULT_TIMEOUT_MS),
      threshold: positive(endpoint.threshold, DEFAULT_THRESHOLD),
      backoffMs: positive(endpoint.backoff, DEFAULT_BACKOFF_MS),
      ignoredMediaTypes: new Set(ignored),
      ignoredActions: new Set(endpoint.ignore?.actions ?? []),
    });
  }
  return out;
}

/** distribution's source address: the host name with the port of `http.addr`. */
function sourceAddr(addr: string): string {
  const port = /:(\d+)$/.exec(addr.trim())?.[1];
  return port === undefined ? hostname() : `${hostname()}:${port}`;
}

/**
 * @throws Error when the configuration is invalid (see {@link resolveEndpoints}).
 */
export function createNotifications(
  config: Config,
  driver: StorageDriver,
  options: NotificationsOptions,
): Notifications {
  const settings = resolveEndpoints(config.notifications);
  const { logger } = options;
  const source: EventSource = { addr: sourceAddr(config.http.addr), instanceID: options.instanceID ?? randomUUID() };
  const endpoints = new Map<string, Endpoint>();
  const keeper = createInstanceKeeper({
    driver,
    instanceID: source.instanceID,
    addr: source.addr,
    endpoints,
    heartbeatMs: options.heartbeatMs ?? HEARTBEAT_MS,
    staleMs: options.staleMs ?? STALE_MS,
    logger,
  });
  for (const endpoint of settings) {
    const key = queueKey(endpoint.name);
    const queue = createDurableQueue({ driver, dir: keeper.queueDir(key), logger });
    endpoints.set(key, createEndpoint(endpoint, queue, logger));
  }
  const factory = createEventFactory({
    source,
    includeReferences: config.notifications?.events?.includereferences ?? false,
  });

  const sink = {
    async write(event: Event): Promise<void> {
      const stored: Array<Promise<boolean>> = [];
      for (const endpoint of endpoints.values()) {
        if (endpoint.accepts(event)) stored.push(endpoint.enqueue(event));
      }
      if (stored.length === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const giveUp = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, STORE_WAIT_MS);
      });
      await Promise.race([Promise.all(stored), giveUp]);
      clearTimeout(timer);
    },
  };

  let started = false;
  let closing: Promise<void> | undefined;
  const active = endpoints.size > 0;
  return {
    active,
    wrap(registry) {
      return active ? withNotifications(registry, sink, factory) : registry;
    },

    async start() {
      if (!active || started) return;
      started = true;
      await keeper.start();
      for (const endpoint of endpoints.values()) endpoint.start();
      logger.info(
        { endpoints: [...endpoints.values()].map((e) => e.name), instance: source.instanceID },
        'notifications on',
      );
    },

    stats() {
      return [...endpoints.values()].map((endpoint) => endpoint.stats());
    },

    close() {
      closing ??= (async () => {
        if (!started) return;
        await Promise.all([...endpoints.values()].map((endpoint) => endpoint.close()));
        const pending = [...endpoints.values()].reduce((sum, endpoint) => sum + endpoint.stats().pending, 0);
        await keeper.close(pending);
      })();
      return closing;
    },
  };
}
