/**
 * Builds the URLs the API hands back (`Location`, `Link`). With `http.relativeurls` they are
 * paths; otherwise absolute, rooted at `http.host` when configured, else at the origin the
 * client used (`X-Forwarded-Proto`/`X-Forwarded-Host` from a proxy, else `Host` and the
 * socket's protocol), like distribution's URL builder.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Digest, RepositoryName, UploadId } from '../registry/names.js';

export interface UrlOptions {
  /** `http.host`: an externally reachable URL; only its origin is used. */
  host?: string | undefined;
  /** The normalised `http.prefix` (`/` or `/path/`). */
  prefix: string;
  /** `http.relativeurls`. */
  relative: boolean;
}

/** URLs for one request; the origin is derived lazily, at most once. */
export interface RequestUrls {
  /** `…/v2/<name>/blobs/<digest>` */
  blob(name: RepositoryName, digest: Digest): string;
  /** `…/v2/<name>/manifests/<digest>` */
  manifest(name: RepositoryName, digest: Digest): string;
  /**
   * `…/v2/<name>/blobs/uploads/<id>`; the one place upload URLs are built, so a signed
   * `_state` token is added here and nowhere else.
   */
  upload(name: RepositoryName, id: UploadId, state?: string): string;
  /** An API path (after `v2/`) with the prefix, always relative: pagination `Link`s use this form. */
  apiPath(path: string): string;
}

export interface UrlBuilder {
  /** URL building bound to one request (its Host and forwarding headers). */
  forRequest(req: IncomingMessage): RequestUrls;
}

export function createUrlBuilder(options: UrlOptions): UrlBuilder {
  const configuredOrigin = options.host ? originOf(options.host) : undefined;
  const apiRoot = `${options.prefix}v2/`;
  return {
    forRequest(req) {
      let root: string | undefined;
      const abs = (path: string): string => {
        if (options.relative) return apiRoot + path;
        root ??= (configuredOrigin ?? requestOrigin(req)) + apiRoot;
        return root + path;
      };
      return {
        blob: (name, digest) => abs(`${name}/blobs/${digest}`),
        manifest: (name, digest) => abs(`${name}/manifests/${digest}`),
        upload: (name, id, state) =>
          abs(`${name}/blobs/uploads/${id}${state === undefined ? '' : `?_state=${encodeURIComponent(state)}`}`),
        apiPath: (path) => apiRoot + path,
      };
    },
  };
}

function originOf(host: string): string {
  try {
    return new URL(host).origin;
  } catch {
    // A bare host name: assume https, as a configured external address normally is.
    return `https://${host.replace(/\/+$/, '')}`;
  }
}

function firstValue(header: string | string[] | undefined): string | undefined {
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined) return undefined;
  const first = raw.split(',')[0]?.trim();
  return first === '' ? undefined : first;
}

/** The origin the client addressed, honouring a reverse proxy's X-Forwarded-* headers. */
export function requestOrigin(req: IncomingMessage): string {
  const forwardedProto = firstValue(req.headers['x-forwarded-proto'])?.toLowerCase();
  const forwardedHost = firstValue(req.headers['x-forwarded-host']);
  const proto =
    forwardedProto === 'http' || forwardedProto === 'https'
      ? forwardedProto
      : (req.socket as Partial<TLSSocket>).encrypted
        ? 'https'
        : 'http';
  const host = forwardedHost ?? req.headers.host ?? 'localhost';
  return `${proto}://${host}`;
}
