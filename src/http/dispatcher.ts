/**
 * The one request pipeline: config headers → route (parsed once) → API version header on all
 * of /v2/ → request context → read-only and method checks → identifier validation → access
 * control (auth/, which also serves the token endpoint outside /v2/) → the resource handler →
 * one catch that maps errors to OCI JSON, never writing after headers went out, logging
 * unexpected errors once. Every response gets one access-log line.
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
import type { ApiContext, ApiOptions, HttpMethod, MethodHandlers } from '../api/context.js';
import { ApiError, methodNotAllowed, routeNotFound, toErrorResponse } from '../api/errors.js';
import { API_HANDLERS } from '../api/handlers.js';
import type { Grant } from '../auth/access.js';
import type { AuthGuard } from '../auth/guard.js';
import type { RequestObserver } from '../metrics/http-metrics.js';
import type { Registry } from '../registry/types.js';
import { settleUnreadBody } from './body.js';
import type { TrustedProxies } from './client-address.js';
import { connectionController } from './connection-signal.js';
import { createRequestContext, describeRequest, type RequestContext, runWithContext } from './context.js';
import type { RequestLimiter } from './limits.js';
import { trackRequest } from './request-end.js';
import { matchRoute, type RawRoute, type Route, validateRoute } from './routes.js';
import { answerUnavailable } from './unavailable.js';
import type { RequestUrls, UrlBuilder } from './urls.js';

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
  /** `http.limits`: upload concurrency per client and stalled-transfer timeouts. */
  limits?: RequestLimiter | undefined;
  /** Access control (`auth`), when configured: authorizes API requests, serves the token endpoint. */
  auth?: AuthGuard | undefined;
  /** Request metrics (`http.debug.prometheus`), when enabled. */
  observer?: RequestObserver | undefined;
  /** `http.trustedproxies`: whose `X-Forwarded-For` the access log believes. */
  trustedProxies?: TrustedProxies | undefined;
  /**
   * Makes each request's context reachable through `currentContext()` below the dispatcher, for
   * decorators that need it (notifications). Only when asked: on Node 20 the AsyncLocalStorage
   * behind it hooks every promise the process makes, which cost 6–7% of manifest GETs/s.
   */
  propagateContext?: boolean | undefined;
  /** True while a health check fails: every request is then answered 503 (see unavailable.ts). */
  unhealthy?: (() => boolean) | undefined;
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
  const controller = connectionController(req.socket);
  options.limits?.watch(req, res, controller);
  const context = createRequestContext(randomUUID(), options.logger, controller.signal);
  context.request = describeRequest(req, options.trustedProxies);
  context.urls = options.urls.forRequest(req);
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const pathname = queryAt < 0 ? url : url.slice(0, queryAt);
  const tracker = trackRequest(options, req, context, pathname, started);
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new Error('client closed the connection'));
    tracker.ended(res.statusCode);
  });
  for (const [name, values] of extraHeaders) res.setHeader(name, values);

  const raw = matchRoute(pathname, options.prefix);
  const endpoint = raw.kind === 'not-found' ? options.auth?.endpoint(pathname) : undefined;
  tracker.routed(endpoint === undefined ? raw.kind : 'auth');
  if (options.unhealthy?.() === true) {
    if (raw.kind !== 'health' && raw.kind !== 'not-found') res.setHeader(API_VERSION_HEADER, API_VERSION);
    answerUnavailable(req, res);
    return;
  }
  if (raw.kind === 'health') {
    res.writeHead(200, { 'Content-Length': 0 });
    res.end();
    return;
  }
  if (endpoint !== undefined) {
    await endpoint(req, res, context);
    return;
  }
  if (raw.kind === 'not-found') {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 19 });
    res.end(req.method === 'HEAD' ? undefined : '404 page not found\n');
    return;
  }
  res.setHeader(API_VERSION_HEADER, API_VERSION);
  const serve = async (): Promise<void> => {
    try {
      await handle(options, context, raw, req, res, queryAt < 0 ? '' : url.slice(queryAt + 1));
    } catch (error) {
      fail(context, raw, error, req, res);
    }
  };
  if (options.propagateContext === true) await runWithContext(context, serve);
  else await serve();
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
  options.limits?.admit(raw.kind, req, res);
  const route = validateRoute(raw);
  const query = new URLSearchParams(search);
  const grant = await options.auth?.authorize(req, route, query);
  context.user = grant?.user;
  await handler(
    new HandlerCall(req, res, route, query, options, context.urls ?? options.urls.forRequest(req), grant, context),
  );
}

/**
 * What a handler gets. A class, so the lazy logger is a getter on the prototype: a per-request
 * object literal with a getter of its own is promoted out of V8's young generation (see
 * LazyLoggerContext in context.ts).
 */
class HandlerCall implements ApiContext {
  readonly signal: AbortSignal;
  readonly registry: Registry;
  readonly options: ApiOptions;
  readonly #context: RequestContext;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly route: Route,
    readonly query: URLSearchParams,
    dispatcher: DispatcherOptions,
    readonly urls: RequestUrls,
    readonly grant: Grant | undefined,
    context: RequestContext,
  ) {
    this.signal = context.signal;
    this.registry = dispatcher.registry;
    this.options = dispatcher.api;
    this.#context = context;
  }

  /** A child logger costs more than a small request's whole handling: made only when used. */
  get logger(): Logger {
    return this.#context.logger;
  }
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
