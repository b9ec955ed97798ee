/**
 * The per-request context. Handlers get it passed; code below the registry interface (the
 * notifications decorator) reaches it through AsyncLocalStorage, which the dispatcher sets up only
 * when such a consumer is configured (`propagateContext`): otherwise `currentContext()` is undefined.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { normalizeAddress, requestClientAddress, type TrustedProxies } from './client-address.js';
import type { RequestUrls } from './urls.js';

/** What a notification event records about the client request (distribution's RequestRecord). */
export interface RequestInfo {
  /** The client's address as `ip:port` (`[v6]:port`). */
  readonly addr: string;
  /** The `Host` header the client sent. */
  readonly host: string;
  /** The HTTP method. */
  readonly method: string;
  /** The `User-Agent` header, empty when absent. */
  readonly useragent: string;
}

export interface RequestContext {
  /** A unique id for the request, logged on every line about it. */
  readonly id: string;
  /** The server logger bound to this request's id (created on first use). */
  readonly logger: Logger;
  /** Aborted when the client goes away before the response is complete. */
  readonly signal: AbortSignal;
  /**
   * The authenticated user name, set by the dispatcher once access control has let the request
   * through; undefined before that, for anonymous callers, and without `auth`.
   */
  user?: string | undefined;
  /** The client request as notifications record it; set by the dispatcher. */
  request?: RequestInfo | undefined;
  /** URL building bound to this request, for URLs emitted below the HTTP layer (notification events). */
  urls?: RequestUrls | undefined;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` with `context` as the current request context. */
export function runWithContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The context of the request being served, or undefined outside a request. */
export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

/**
 * A context whose child logger is only created when something logs. A class, with the getter on
 * its prototype, because objects made per request must have no accessors of their own: in Node 20
 * such object literals outlived young-generation collections. Under 32 connections pulling a
 * manifest, the old context literal made V8 promote about 0.1 MB per collection even when the
 * object was dropped at once, and a bare literal with a getter 2.7 MB (none without the getter).
 * The old generation then filled with garbage, and the full collections that took were the long
 * tail of request latency and the RSS swings across a run.
 */
class LazyLoggerContext implements RequestContext {
  readonly id: string;
  readonly signal: AbortSignal;
  user: string | undefined = undefined;
  request: RequestInfo | undefined = undefined;
  urls: RequestUrls | undefined = undefined;
  readonly #parent: Logger;
  #child: Logger | undefined;

  constructor(id: string, parent: Logger, signal: AbortSignal) {
    this.id = id;
    this.signal = signal;
    this.#parent = parent;
  }

  get logger(): Logger {
    this.#child ??= this.#parent.child({ reqId: this.id });
    return this.#child;
  }
}

export function createRequestContext(id: string, logger: Logger, signal: AbortSignal): RequestContext {
  return new LazyLoggerContext(id, logger, signal);
}

/**
 * The parts of `req` a notification event records. `addr` is the peer's `host:port`, or behind a
 * trusted proxy the client address X-Forwarded-For names (as registry:2 reports a forwarded
 * client, but only believing proxies listed in `http.trustedproxies`).
 */
export function describeRequest(req: IncomingMessage, trustedProxies?: TrustedProxies): RequestInfo {
  const { remoteAddress = '', remotePort } = req.socket;
  return {
    addr: forwardedClient(req, trustedProxies) ?? peerAddress(remoteAddress, remotePort),
    host: req.headers.host ?? '',
    method: req.method ?? 'GET',
    useragent: req.headers['user-agent'] ?? '',
  };
}

function peerAddress(address: string, port: number | undefined): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return port === undefined ? host : `${host}:${port}`;
}

/** The client a trusted proxy forwarded the request for, when there is one. */
function forwardedClient(req: IncomingMessage, trustedProxies: TrustedProxies | undefined): string | undefined {
  if (trustedProxies === undefined) return undefined;
  const client = requestClientAddress(req, trustedProxies);
  return client === undefined || client === normalizeAddress(req.socket.remoteAddress ?? '') ? undefined : client;
}
