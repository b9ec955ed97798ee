/**
 * Starts the HTTP server on plain `node:http`: builds the storage driver and registry from
 * the configuration (unless a registry is injected), listens on `http.addr` and drains on close.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ApiOptions } from '../api/context.js';
import type { Config } from '../config/schema.js';
import { DEFAULT_MAX_MANIFEST_BYTES } from '../registry/manifests.js';
import { createRegistry } from '../registry/registry.js';
import type { Registry } from '../registry/types.js';
import { createStorageDriver } from '../storage/factory.js';
import { createDispatcher } from './dispatcher.js';
import { normalizePrefix } from './routes.js';
import { createUrlBuilder } from './urls.js';

export interface StartServerOptions {
  /** The server logger (access log, errors, lifecycle). */
  logger: Logger;
  /** A ready registry (tests, decorators); when absent one is built from `config.storage`. */
  registry?: Registry;
  /** How long `close()` waits for in-flight requests before cutting connections (ms). */
  drainTimeoutMs?: number;
}

export interface RunningServer {
  /** `http://host:port`, with 127.0.0.1 standing in for "all interfaces". */
  url: string;
  /** The port actually bound (useful with port 0). */
  port: number;
  /** The underlying node:http server. */
  server: Server;
  /** Stops accepting connections and resolves once in-flight requests have finished. */
  close(): Promise<void>;
}

const DEFAULT_CATALOG_MAX_ENTRIES = 1000;
const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

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

export async function startServer(config: Config, opts: StartServerOptions): Promise<RunningServer> {
  const { logger } = opts;
  const registry =
    opts.registry ??
    createRegistry({
      driver: createStorageDriver(config.storage),
      deleteEnabled: config.storage.delete.enabled,
      maxManifestBytes: DEFAULT_MAX_MANIFEST_BYTES,
    });
  const prefix = normalizePrefix(config.http.prefix);
  const api: ApiOptions = {
    redirectDisabled: config.storage.redirect.disable,
    maxManifestBytes: DEFAULT_MAX_MANIFEST_BYTES,
    catalogMaxEntries: config.catalog?.maxentries ?? DEFAULT_CATALOG_MAX_ENTRIES,
  };
  const listener = createDispatcher({
    registry,
    logger,
    prefix,
    api,
    urls: createUrlBuilder({ host: config.http.host, prefix, relative: config.http.relativeurls }),
    headers: config.http.headers,
    readOnly: config.storage.maintenance.readonly.enabled,
    accessLog: !config.log.accesslog.disabled,
  });
  const server = createServer(
    {
      // Layer pushes can run for many minutes: no whole-request deadline, only one for headers.
      requestTimeout: 0,
      headersTimeout: 60_000,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 30_000,
    },
    listener,
  );
  // Longer than the usual 60 s idle timeout of load balancers, so they close first.
  server.keepAliveTimeout = 75_000;

  const { host, port } = parseListenAddress(config.http.addr);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, ...(host === undefined ? {} : { host }) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = host === undefined || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${address.port}`;
  logger.info({ addr: config.http.addr, port: address.port, prefix }, 'listening');

  const drainTimeoutMs = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    server,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => server.closeAllConnections(), drainTimeoutMs);
        timer.unref();
        server.close((error) => {
          clearTimeout(timer);
          if (error) reject(error);
          else resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
