/**
 * Starts the HTTP server on `node:http`, or `node:https` when `http.tls` is configured (see
 * tls.ts): builds the storage driver and registry from the configuration (unless a registry is
 * injected), applies `http.limits`, listens on `http.addr` and drains on close.
 */
import { lstat, unlink } from 'node:fs/promises';
import { type AddressInfo, connect } from 'node:net';
import type { Logger } from 'pino';
import type { ApiOptions } from '../api/context.js';
import type { AuthGuard } from '../auth/guard.js';
import type { Config } from '../config/schema.js';
import { createMaintenance } from '../gc/maintenance.js';
import { createObservability } from '../metrics/observability.js';
import type { EndpointStats } from '../notify/endpoint.js';
import { createNotifications } from '../notify/notifications.js';
import { createRegistry } from '../registry/registry.js';
import type { Registry } from '../registry/types.js';
import { withUploadLimits } from '../registry/upload-limits.js';
import type { StorageDriver } from '../storage/driver.js';
import { createStorageDriver } from '../storage/factory.js';
import { applyStorageMiddleware } from '../storage/middleware.js';
import { parseTrustedProxies } from './client-address.js';
import { createDispatcher } from './dispatcher.js';
import { answerClientErrors, createRequestLimiter, resolveLimits } from './limits.js';
import { raiseMallocTrimThreshold } from './malloc-tuning.js';
import { normalizePrefix } from './routes.js';
import { createSharedState } from './shared-state.js';
import { createTransport, type HttpServer } from './tls.js';
import { createUrlBuilder } from './urls.js';

export interface StartServerOptions {
  /** The server logger (access log, errors, lifecycle). */
  logger: Logger;
  /** A ready registry (tests, decorators); when absent one is built from `config.storage`. */
  registry?: Registry;
  /** How long `close()` waits for in-flight requests before cutting connections (ms). */
  drainTimeoutMs?: number;
  /** Wraps the configured storage driver (tests: fault-injecting decorators). */
  wrapDriver?: ((driver: StorageDriver) => StorageDriver) | undefined;
  /**
   * The configured `http.secret` was made up by this machine's cluster primary, so only its
   * workers continue each other's uploads (see createSharedState).
   */
  secretIsLocal?: boolean | undefined;
}

export interface RunningServer {
  /** `http://host:port`, with 127.0.0.1 standing in for "all interfaces". */
  url: string;
  /** The port actually bound (useful with port 0). */
  port: number;
  /** The underlying node:http (or node:https) server. */
  server: HttpServer;
  /** Stops accepting connections and resolves once in-flight requests have finished. */
  close(): Promise<void>;
  /** Notification endpoints' counters (`notifications.endpoints`), for metrics. */
  notifications: { stats(): EndpointStats[] };
  /** The debug listener's URL (`http.debug.addr`: health report, metrics), when there is one. */
  debugUrl: string | undefined;
}

const DEFAULT_CATALOG_MAX_ENTRIES = 1000;
const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

/**
 * Where `http` says to listen: `http.addr` as a TCP address, or with `http.net: unix` (as in
 * distribution) as the path of a Unix domain socket, for a proxy on the same machine.
 */
export function listenTarget(http: Config['http']): { host?: string; port: number } | { path: string } {
  if (http.net !== 'unix') {
    const { host, port } = parseListenAddress(http.addr);
    return host === undefined ? { port } : { host, port };
  }
  const path = http.addr.trim();
  if (path === '' || path.startsWith(':')) {
    throw new Error(`invalid http.addr ${JSON.stringify(http.addr)}: with http.net unix it is a socket path`);
  }
  return { path };
}

/**
 * Removes a socket file left by a process that died without closing it, so a restart can bind
 * the path again; a socket something still answers on is left alone (listen then fails clearly).
 */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch {
    return;
  }
  if (!isSocket) return;
  const answered = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (!answered) await unlink(path).catch(() => undefined);
}

/** Parses distribution's `http.addr`: `:5000`, `host:5000`, `[::1]:5000`. */
export function parseListenAddress(addr: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port > 65535) {
    throw new Error(`invalid http.addr ${JSON.stringify(addr)}: expected [host]:port`);
  }
  const host = match[1] ?? match[2];
  return { host: host === '' ? undefined : host, port };
}

/**
 * Access control when `auth` or `access` is configured. Its modules (jose, bcryptjs, the token
 * server) are loaded only then: without auth they are a fifth of the start-up.
 */
async function loadAuth(config: Config, opts: { logger: Logger; prefix: string }): Promise<AuthGuard | undefined> {
  if (config.auth === undefined && config.access === undefined) return undefined;
  const { createAuth } = await import('../auth/guard.js');
  return createAuth(config, opts);
}

export async function startServer(config: Config, opts: StartServerOptions): Promise<RunningServer> {
  const { logger } = opts;
  raiseMallocTrimThreshold();
  // First: a bad htpasswd file or token key stops start-up before anything is opened.
  const auth = await loadAuth(config, { logger, prefix: normalizePrefix(config.http.prefix) });
  const limits = resolveLimits(config.http.limits);
  const transport = await createTransport(config.http, logger);
  const shared = createSharedState(config, logger, { secretIsLocal: opts.secretIsLocal === true });
  const observability = await createObservability(config, { logger });
  const configured = applyStorageMiddleware(createStorageDriver(config.storage), config.middleware?.storage);
  const driver = observability.wrapDriver(opts.wrapDriver?.(configured) ?? configured);
  const maintenance = createMaintenance(config, driver, { logger, descriptorCache: shared.descriptorCache });
  const notifications = createNotifications(config, driver, { logger });
  const registry = withUploadLimits(
    opts.registry ??
      createRegistry({
        driver,
        fence: maintenance.fence,
        deleteEnabled: config.storage.delete.enabled,
        maxManifestBytes: limits.maxManifestBytes,
        descriptorCache: observability.wrapCache(shared.descriptorCache),
        uploadHashes: shared.uploadHashes,
      }),
    limits,
  );
  const prefix = normalizePrefix(config.http.prefix);
  const api: ApiOptions = {
    redirectDisabled: config.storage.redirect.disable,
    maxManifestBytes: limits.maxManifestBytes,
    catalogMaxEntries: config.catalog?.maxentries ?? DEFAULT_CATALOG_MAX_ENTRIES,
    uploadState: shared.uploadState,
  };
  const listener = createDispatcher({
    registry: notifications.wrap(registry),
    logger,
    prefix,
    api,
    urls: createUrlBuilder({ host: config.http.host, prefix, relative: config.http.relativeurls }),
    headers: config.http.headers,
    readOnly: config.storage.maintenance.readonly.enabled,
    accessLog: !config.log.accesslog.disabled,
    limits: createRequestLimiter(limits),
    auth,
    observer: observability.requests,
    trustedProxies: parseTrustedProxies(config.http.trustedproxies),
    unhealthy: observability.unhealthy,
    propagateContext: notifications.active,
  });
  const server = transport.createServer(
    {
      // Layer pushes can run for many minutes: no whole-request deadline, only one for headers.
      requestTimeout: 0,
      headersTimeout: 60_000,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 30_000,
      maxHeaderSize: limits.maxHeaderBytes,
    },
    listener,
  );
  answerClientErrors(server, limits, logger);
  // Longer than the usual 60 s idle timeout of load balancers, so they close first.
  server.keepAliveTimeout = 75_000;

  const target = listenTarget(config.http);
  if ('path' in target) await removeStaleSocket(target.path);
  // Before listening: events queued by a stopped instance go out before any new one.
  await notifications.start();
  try {
    await observability.start({ driver, redis: shared.redis, notifications });
  } catch (error) {
    void shared.close();
    void notifications.close();
    throw error;
  }
  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error): void => {
      void shared.close();
      void notifications.close();
      void observability.close();
      reject(error);
    };
    server.once('error', failed);
    server.listen(target, () => {
      server.off('error', failed);
      resolve();
    });
  });
  transport.start();
  shared.start();
  maintenance.start();
  let url: string;
  let port = 0;
  if ('path' in target) {
    url = `${transport.scheme}+unix://${encodeURIComponent(target.path)}`;
    logger.info({ addr: config.http.addr, net: 'unix', prefix }, 'listening');
  } else {
    port = (server.address() as AddressInfo).port;
    const { host } = target;
    const shownHost = host === undefined || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    url = `${transport.scheme}://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
    logger.info({ addr: config.http.addr, port, prefix }, 'listening');
  }

  const drainTimeoutMs = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    server,
    notifications,
    debugUrl: observability.debugUrl,
    close() {
      transport.close();
      const maintenanceStopped = maintenance.stop();
      closing ??= new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => server.closeAllConnections(), drainTimeoutMs);
        timer.unref();
        server.close((error) => {
          clearTimeout(timer);
          if (error) reject(error);
          else resolve();
        });
        server.closeIdleConnections();
      }).finally(async () => {
        await maintenanceStopped;
        await notifications.close();
        await shared.close();
        await observability.close();
      });
      return closing;
    },
  };
}
