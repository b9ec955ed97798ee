/**
 * The one request pipeline: config headers → route (parsed once) → API version header on all
 * of /v2/ → request context → read-only and method checks → identifier validation → the
 * resource handler → one catch that maps errors to OCI JSON, never writing after headers went
 * out, logging unexpected errors once. Every response gets one access-log line.
 */
import { randomUUID } from 'node:crypto';
import {
  type IncomingMessage,
  type RequestListener,
  type ServerResponse,
  validateHeaderName,
  validateHeaderValue,
} from 'node:http';
import type { Logger } from 'pino';
import type { ApiOptions, HttpMethod, MethodHandlers } from '../api/context.js';
import { ApiError, methodNotAllowed, routeNotFound, toErrorResponse } from '../api/errors.js';
import { API_HANDLERS } from '../api/handlers.js';
import type { Registry } from '../registry/types.js';
import { settleUnreadBody } from './body.js';
import { createRequestContext, type RequestContext, runWithContext } from './context.js';
import { matchRoute, type RawRoute, type Route, validateRoute } from './routes.js';
import type { UrlBuilder } from './urls.js';

export const API_VERSION_HEADER = 'Docker-Distribution-API-Version';
export const API_VERSION = 'registry/2.0';

const WRITE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface DispatcherOptions {
  /** The services every handler talks to. */
  registry: Registry;
  /** The server logger; each request logs through a child bound to its id. */
  logger: Logger;
  /** The normalised `http.prefix`. */
  prefix: string;
  /** Builds `Location`/`Link` URLs. */
  urls: UrlBuilder;
  /** Settings handed to every handler. */
  api: ApiOptions;
  /** `http.headers`: added to every response. */
  headers?: Record<string, string[]> | undefined;
  /** `storage.maintenance.readonly.enabled`. */
  readOnly: boolean;
  /** Whether to log one line per request (`log.accesslog.disabled` inverted). */
  accessLog: boolean;
}

export function createDispatcher(options: DispatcherOptions): RequestListener {
  const extraHeaders = Object.entries(options.headers ?? {}).filter(([, values]) => values.length > 0);
  // A bad configured header fails at startup rather than on every request.
  for (const [name, values] of extraHeaders) {
    validateHeaderName(name);
    for (const value of values) validateHeaderValue(name, value);
  }
  return (req, res) => {
    dispatch(options, extraHeaders, req, res).catch((error: unknown) => {
      // Only a bug in the error path itself lands here; never let it crash the process.
      options.logger.error({ err: error }, 'dispatcher failure');
      res.destroy();
    });
  };
}

async function dispatch(
  options: DispatcherOptions,
  extraHeaders: Array<[string, string[]]>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const started = performance.now();
  const controller = new AbortController();
  const context = createRequestContext(randomUUID(), options.logger, controller.signal);
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const pathname = queryAt < 0 ? url : url.slice(0, queryAt);
  const socket = req.socket;
  const remoteAddr = socket.remoteAddress;
  // Bytes written to the connection for this response, headers included.
  const bytesBefore = socket.bytesWritten;
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new Error('client closed the connection'));
    if (!options.accessLog) return;
    options.logger.info(
      {
        reqId: context.id,
        method: req.method,
        path: pathname,
        status: res.statusCode,
        bytes: socket.bytesWritten - bytesBefore,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        remoteAddr,
      },
      'request',
    );
  });
  for (const [name, values] of extraHeaders) res.setHeader(name, values);

  const raw = matchRoute(pathname, options.prefix);
  if (raw.kind === 'health') {
    res.writeHead(200, { 'Content-Length': 0 });
    res.end();
    return;
  }
  if (raw.kind === 'not-found') {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 19 });
    res.end(req.method === 'HEAD' ? undefined : '404 page not found\n');
    return;
  }
  res.setHeader(API_VERSION_HEADER, API_VERSION);
  await runWithContext(context, async () => {
    try {
      await handle(options, context, raw, req, res, queryAt < 0 ? '' : url.slice(queryAt + 1));
    } catch (error) {
      fail(context, raw, error, req, res);
    }
  });
}

async function handle(
  options: DispatcherOptions,
  context: RequestContext,
  raw: RawRoute,
  req: IncomingMessage,
  res: ServerResponse,
  search: string,
): Promise<void> {
  const method = req.method ?? 'GET';
  if (options.readOnly && WRITE_METHODS.has(method)) {
    throw new ApiError(405, 'UNSUPPORTED', 'the registry is in read-only mode (storage.maintenance.readonly)');
  }
  if (raw.kind === 'api-not-found' || raw.kind === 'health' || raw.kind === 'not-found') throw routeNotFound();
  // The table is keyed by route kind, so a kind's handlers always receive that kind's route.
  const handlers = API_HANDLERS[raw.kind] as MethodHandlers<Route>;
  const handler = handlers[method as HttpMethod];
  if (handler === undefined) throw methodNotAllowed(method, Object.keys(handlers));
  const route = validateRoute(raw);
  await handler({
    req,
    res,
    route,
    query: new URLSearchParams(search),
    signal: context.signal,
    registry: options.registry,
    urls: options.urls.forRequest(req),
    options: options.api,
    logger: context.logger,
  });
}

/** The one place a failed request is answered. */
function fail(context: RequestContext, route: RawRoute, error: unknown, req: IncomingMessage, res: ServerResponse) {
  const aborted = context.signal.aborted;
  if (res.headersSent || res.destroyed) {
    // Too late for an error body: cut the connection so the client sees a truncated response.
    if (!aborted) context.logger.error({ err: error }, 'request failed after the response started');
    res.destroy();
    return;
  }
  const response = toErrorResponse(error, route.kind === 'manifest');
  if (!response.expected) {
    if (aborted) context.logger.debug({ err: error }, 'request aborted by the client');
    else context.logger.error({ err: error }, 'unexpected error');
  }
  settleUnreadBody(req, res);
  const body = Buffer.from(response.body);
  res.writeHead(response.status, {
    ...response.headers,
    'Content-Type': 'application/json',
    'Content-Length': body.length,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
