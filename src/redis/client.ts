/**
 * The shared Redis connection, built from distribution's `redis:` section, behind a circuit
 * breaker so that a dead or slow Redis never stalls requests: Redis is a cache here, and every
 * caller has storage to fall back on.
 *
 * - One ioredis connection with auto-pipelining replaces distribution's connection pool
 *   (`pool.maxidle`, `pool.maxactive`, `pool.idletimeout` are accepted and have nothing to size).
 * - No offline queue and no per-command retries: while the connection is down a command fails at
 *   once, and `readtimeout`/`writetimeout` bound a command on a connection that hangs.
 * - After {@link FAILURES_TO_OPEN} failures in a row the breaker opens and callers skip Redis for
 *   {@link OPEN_MS}; then one probe is let through, and its success closes the breaker.
 * - The connection reconnects in the background with capped backoff, forever.
 * - Every change between up and down is logged once, and {@link GuardedRedis.status} reports it
 *   (for health checks and metrics).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';

export type RedisConfig = NonNullable<Config['redis']>;

/** What health checks and metrics see of the Redis connection. */
export interface RedisStatus {
  /** `up`: commands are sent; `down`: callers fall through to storage. */
  state: 'up' | 'down';
  /** When the state last changed. */
  since: Date;
  /** `host:port` of the server. */
  addr: string;
  /** Why it is down (the last error), when it is. */
  lastError?: string;
}

export interface GuardedRedis {
  /**
   * Runs `fn` with the client unless the breaker is open or the connection is down.
   * @returns fn's result, or undefined when Redis was skipped or failed (the failure is counted,
   *   never thrown: the caller falls back to storage).
   */
  run<T>(fn: (client: Redis) => Promise<T>): Promise<T | undefined>;
  /** The current state, for health and metrics. */
  status(): RedisStatus;
  /** Calls `listener` each time Redis comes back up (e.g. to replay invalidations). */
  onUp(listener: () => void): void;
  /**
   * Opens the connection (in the background: run() skips Redis until it is ready). Separate from
   * construction so that a server failing to start never leaves a socket holding the process open.
   */
  connect(): void;
  /** Closes the connection; later calls to run() skip Redis. */
  close(): Promise<void>;
}

export const FAILURES_TO_OPEN = 3;
export const OPEN_MS = 5_000;
const DEFAULT_DIAL_TIMEOUT_MS = 2_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 500;
const MAX_RECONNECT_DELAY_MS = 5_000;

/** `host:port`, `[v6]:port`, `host` (port 6379). */
export function parseRedisAddr(addr: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(addr.trim());
  const port = match?.[3] === undefined ? 6379 : Number(match[3]);
  const host = match?.[1] ?? match?.[2];
  if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`invalid redis.addr ${JSON.stringify(addr)}: expected host:port`);
  }
  return { host, port };
}

/** ioredis options for distribution's `redis:` keys. */
export function redisOptions(config: RedisConfig) {
  if (config.addr === undefined) throw new Error('redis.addr is required when redis is configured');
  const { host, port } = parseRedisAddr(config.addr);
  const timeouts = [config.readtimeout, config.writetimeout].filter((ms): ms is number => ms !== undefined && ms > 0);
  const tls = config.tls?.enabled === true ? tlsOptions(config.tls) : undefined;
  return {
    host,
    port,
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(config.password === undefined ? {} : { password: config.password }),
    db: config.db ?? 0,
    connectTimeout:
      config.dialtimeout !== undefined && config.dialtimeout > 0 ? config.dialtimeout : DEFAULT_DIAL_TIMEOUT_MS,
    commandTimeout: timeouts.length > 0 ? Math.max(...timeouts) : DEFAULT_COMMAND_TIMEOUT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    enableAutoPipelining: true,
    lazyConnect: true,
    keepAlive: 30_000,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), MAX_RECONNECT_DELAY_MS),
    // A replica shares Redis with others: never let one of them be wedged by a READONLY replica.
    reconnectOnError: (error: Error) => error.message.startsWith('READONLY'),
    ...(tls === undefined ? {} : { tls }),
  };
}

function tlsOptions(tls: NonNullable<RedisConfig['tls']>) {
  return {
    ...(tls.certificate === undefined ? {} : { cert: readFileSync(tls.certificate) }),
    ...(tls.key === undefined ? {} : { key: readFileSync(tls.key) }),
    ...(tls.clientcas === undefined || tls.clientcas.length === 0
      ? {}
      : { ca: tls.clientcas.map((path) => readFileSync(path)) }),
  };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Connections of this process that are not closed, for {@link redisStatuses}. */
const live = new Set<GuardedRedis>();

/**
 * The state of every open Redis connection of this process (one per running server with the
 * Redis cache): what a health check or a metrics collector reports without any plumbing.
 */
export function redisStatuses(): RedisStatus[] {
  return [...live].map((redis) => redis.status());
}

export function createGuardedRedis(config: RedisConfig, logger: Logger): GuardedRedis {
  const options = redisOptions(config);
  const addr = `${options.host}:${options.port}`;
  const log = logger.child({ redis: addr });
  // Required here rather than imported: ioredis costs ~0.5 s of CPU to load, which a registry
  // without Redis should not pay at start-up.
  const { Redis: RedisClient } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
  const client = new RedisClient(options);
  const upListeners: Array<() => void> = [];
  let closed = false;
  let consecutiveFailures = 0;
  let openUntil = 0;
  let probing = false;
  let status: RedisStatus = { state: 'down', since: new Date(), addr, lastError: 'connecting' };
  // Only log "down" after we have been up once, or after the first failed connection attempt.
  let announcedDown = false;

  function markUp(): void {
    consecutiveFailures = 0;
    openUntil = 0;
    if (status.state === 'up') return;
    const wasAnnounced = announcedDown;
    status = { state: 'up', since: new Date(), addr };
    announcedDown = false;
    if (wasAnnounced) log.info('redis is available again: using the shared cache');
    else log.info('connected to redis');
    for (const listener of upListeners) listener();
  }

  function markDown(reason: string): void {
    if (status.state === 'down') {
      status = { ...status, lastError: reason };
      if (announcedDown) return;
    } else {
      status = { state: 'down', since: new Date(), addr, lastError: reason };
    }
    announcedDown = true;
    if (!closed) log.warn({ reason }, 'redis is unavailable: serving from storage until it is back');
  }

  client.on('ready', () => {
    // A fresh connection proves the server answers; a breaker opened by timeouts still probes first.
    if (Date.now() >= openUntil) markUp();
  });
  client.on('error', (error: unknown) => markDown(message(error)));
  client.on('close', () => markDown('connection closed'));

  function allowed(): boolean {
    if (closed || client.status !== 'ready') return false;
    if (status.state === 'up') return true;
    // Open breaker: skip until the cool-down is over, then let exactly one probe through.
    if (Date.now() < openUntil || probing) return false;
    probing = true;
    return true;
  }

  const guarded: GuardedRedis = {
    async run(fn) {
      if (!allowed()) return undefined;
      const wasProbe = status.state === 'down';
      try {
        const result = await fn(client);
        markUp();
        return result;
      } catch (error) {
        consecutiveFailures++;
        if (wasProbe || consecutiveFailures >= FAILURES_TO_OPEN) {
          openUntil = Date.now() + OPEN_MS;
          markDown(message(error));
        }
        return undefined;
      } finally {
        if (wasProbe) probing = false;
      }
    },
    status: () => ({ ...status }),
    onUp(listener) {
      upListeners.push(listener);
    },
    connect() {
      if (closed || client.status !== 'wait') return;
      // Failures are reported through the 'error' event and retried by the client itself.
      client.connect().catch(() => undefined);
    },
    async close() {
      if (closed) return;
      closed = true;
      live.delete(guarded);
      if (client.status === 'wait' || client.status === 'end') {
        client.disconnect();
        return;
      }
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    },
  };
  live.add(guarded);
  return guarded;
}
