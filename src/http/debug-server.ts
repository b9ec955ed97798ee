/**
 * The debug listener (`http.debug.addr`), separate from the registry's so it can stay on a
 * private interface: `/debug/health` answers distribution's health report (`{}` and 200 when
 * healthy; a map of failing check → error and 503 otherwise), and, with
 * `http.debug.prometheus.enabled`, the metrics path (`http.debug.prometheus.path`, default
 * `/metrics`) answers Prometheus' text format. Anything else is 404, as on registry:2's listener.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Exposition } from '../metrics/metrics.js';

export const HEALTH_PATH = '/debug/health';
export const DEFAULT_METRICS_PATH = '/metrics';

/** What `/debug/health` reports. */
export interface HealthReport {
  /** Failing checks, name → error message. */
  failing: Record<string, string>;
  /** Whether the registry is unavailable (503): some check whose failure matters is failing. */
  unhealthy: boolean;
}

export interface DebugServerOptions {
  /** `http.debug.addr`: `:5001`, `127.0.0.1:5001`, `[::1]:5001`. */
  addr: string;
  logger: Logger;
  /** The current health report. */
  health(): Promise<HealthReport> | HealthReport;
  /** Serves metrics at `path` when set. */
  metrics?: { path: string; render(): Promise<Exposition> } | undefined;
}

export interface DebugServer {
  /** `http://host:port` of the listener. */
  url: string;
  /** The port bound (useful with port 0). */
  port: number;
  /** Stops listening and cuts open connections (scrapers keep theirs alive). */
  close(): Promise<void>;
}

/** Parses `http.debug.addr` as distribution does `http.addr`; an empty host means all interfaces. */
export function parseDebugAddress(addr: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port > 65535) {
    throw new Error(`invalid http.debug.addr ${JSON.stringify(addr)}: expected [host]:port`);
  }
  const host = match[1] ?? match[2];
  return { host: host === '' ? undefined : host, port };
}

/** A metrics path as configured, with the leading slash distribution's mux needs. */
export function normalizeMetricsPath(path: string | undefined): string {
  if (path === undefined || path === '') return DEFAULT_METRICS_PATH;
  return path.startsWith('/') ? path : `/${path}`;
}

function send(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: string): void {
  const bytes = Buffer.from(body);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': bytes.length, 'Cache-Control': 'no-cache' });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

async function answer(options: DebugServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  const readable = req.method === 'GET' || req.method === 'HEAD';
  if (readable && path === HEALTH_PATH) {
    const report = await options.health();
    send(req, res, report.unhealthy ? 503 : 200, 'application/json; charset=utf-8', JSON.stringify(report.failing));
    return;
  }
  if (readable && options.metrics !== undefined && path === options.metrics.path) {
    const exposition = await options.metrics.render();
    send(req, res, 200, exposition.contentType, exposition.body);
    return;
  }
  send(req, res, 404, 'text/plain; charset=utf-8', '404 page not found\n');
}

/**
 * Listens on `options.addr`.
 * @throws Error when the address is malformed or cannot be bound.
 */
export async function startDebugServer(options: DebugServerOptions): Promise<DebugServer> {
  const { host, port } = parseDebugAddress(options.addr);
  const server: Server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    answer(options, req, res).catch((error: unknown) => {
      options.logger.error({ err: error, path: req.url }, 'debug server request failed');
      if (res.headersSent) res.destroy();
      else send(req, res, 500, 'text/plain; charset=utf-8', 'internal error\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, ...(host === undefined ? {} : { host }) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host === undefined || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${bound}`;
  options.logger.info(
    { addr: options.addr, port: bound, metrics: options.metrics?.path ?? null, health: HEALTH_PATH },
    'debug server listening',
  );
  let closing: Promise<void> | undefined;
  return {
    url,
    port: bound,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
