/** What every resource handler receives, and the small response helpers they share. */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Grant } from '../auth/access.js';
import type { Route, RouteKind } from '../http/routes.js';
import type { UploadStateCodec } from '../http/upload-state.js';
import type { RequestUrls } from '../http/urls.js';
import type { Registry } from '../registry/types.js';

export interface ApiOptions {
  /** `storage.redirect.disable`: never answer blob reads with a redirect. */
  redirectDisabled: boolean;
  /** Largest manifest body read, in bytes. */
  maxManifestBytes: number;
  /** Most repositories one catalog page returns (`n` is capped to it). */
  catalogMaxEntries: number;
  /** Signs and checks the `_state` of upload URLs (`http.secret`). */
  uploadState: UploadStateCodec;
}

export interface ApiContext<R extends Route = Route> {
  /** The request; its body has not been touched yet. */
  readonly req: IncomingMessage;
  /** The response; the config headers and the API version header are already set. */
  readonly res: ServerResponse;
  /** The validated route. */
  readonly route: R;
  /** The parsed query string. */
  readonly query: URLSearchParams;
  /** Aborted when the client goes away; pass it to every service call. */
  readonly signal: AbortSignal;
  /** The registry services, with whatever decorators the server composed. */
  readonly registry: Registry;
  /** Builds the URLs this response hands back (`Location`, `Link`). */
  readonly urls: RequestUrls;
  /** Server-wide API settings from the configuration. */
  readonly options: ApiOptions;
  /** The request's logger (bound to its id). */
  readonly logger: Logger;
  /** What access control granted the caller; absent when no `auth` is configured. */
  readonly grant?: Grant | undefined;
}

export type Handler<R extends Route = Route> = (ctx: ApiContext<R>) => Promise<void>;

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A resource's handlers by method; a missing method answers 405. */
export type MethodHandlers<R extends Route> = Partial<Record<HttpMethod, Handler<R>>>;

/** Route kinds that have handlers (everything under /v2/ that matched a shape). */
export type ApiRouteKind = Exclude<RouteKind, 'health' | 'not-found' | 'api-not-found'>;

export type RouteOf<K extends RouteKind> = Extract<Route, { kind: K }>;

export const JSON_TYPE = 'application/json';

/** Answers with a JSON body (none for HEAD, but the same headers). */
export function sendJson(
  ctx: ApiContext,
  status: number,
  value: unknown,
  headers: OutgoingHttpHeaders = {},
  contentType = JSON_TYPE,
): void {
  const body = Buffer.from(JSON.stringify(value));
  ctx.res.writeHead(status, { ...headers, 'Content-Type': contentType, 'Content-Length': body.length });
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
}

/** Answers without a body (`Content-Length: 0`, omitted on 204/304 where it is not allowed). */
export function sendEmpty(ctx: ApiContext, status: number, headers: OutgoingHttpHeaders = {}): void {
  ctx.res.writeHead(status, status === 204 || status === 304 ? headers : { ...headers, 'Content-Length': 0 });
  ctx.res.end();
}

/** Parses an `If-None-Match` header against an entity tag of `"<digest>"`. */
export function matchesETag(req: IncomingMessage, digest: string): boolean {
  const header = req.headers['if-none-match'];
  if (header === undefined) return false;
  for (const part of header.split(',')) {
    const tag = part.trim().replace(/^W\//, '');
    if (tag === '*' || tag === `"${digest}"` || tag === digest) return true;
  }
  return false;
}
