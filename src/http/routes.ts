/**
 * Parses a request path once into a discriminated union. Repository names span several
 * `/`-separated segments, so the tail after `/v2/` is matched from its end against the
 * Distribution spec's route shapes, and every identifier is validated with the parsers from
 * `registry/names.ts` before anything can reach storage.
 */
import {
  type Digest,
  type ManifestReference,
  parseDigest,
  parseManifestReference,
  parseRepositoryName,
  parseUploadId,
  type RepositoryName,
  type UploadId,
} from '../registry/names.js';

export type Route =
  /** `GET /`: the load-balancer health check, outside the API. */
  | { kind: 'health' }
  /** `/v2/`: the API version check. */
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: RepositoryName }
  | { kind: 'manifest'; name: RepositoryName; reference: ManifestReference }
  | { kind: 'blob'; name: RepositoryName; digest: Digest }
  | { kind: 'upload-start'; name: RepositoryName }
  | { kind: 'upload'; name: RepositoryName; id: UploadId }
  | { kind: 'referrers'; name: RepositoryName; digest: Digest }
  /** Under `/v2/` but matching no route shape. */
  | { kind: 'api-not-found' }
  /** Outside both `/` and `/v2/`. */
  | { kind: 'not-found' };

export type RouteKind = Route['kind'];

/**
 * Normalises `http.prefix` to the form `/path/` (or `/` when absent), as distribution
 * requires both slashes.
 */
export function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '' || prefix === '/') return '/';
  let p = prefix.startsWith('/') ? prefix : `/${prefix}`;
  if (!p.endsWith('/')) p += '/';
  return p;
}

const API_ROOT = 'v2';

/**
 * Recognises the route shape without validating identifiers, so the dispatcher can tell
 * "under /v2/" (API version header, JSON errors) from the rest before validation may throw.
 */
export type RawRoute =
  | Exclude<Route, { kind: 'tags' | 'manifest' | 'blob' | 'upload-start' | 'upload' | 'referrers' }>
  | { kind: 'tags' | 'upload-start'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob' | 'referrers'; name: string; digest: string }
  | { kind: 'upload'; name: string; id: string };

/**
 * Matches a URL path (without query string) against the route shapes.
 * @param prefix the normalised `http.prefix` (see normalizePrefix).
 */
export function matchRoute(pathname: string, prefix: string): RawRoute {
  if (pathname === '/' || pathname === prefix || `${pathname}/` === prefix) return { kind: 'health' };
  if (!pathname.startsWith(prefix)) return { kind: 'not-found' };
  const rest = pathname.slice(prefix.length);
  if (rest === API_ROOT || rest === `${API_ROOT}/`) return { kind: 'base' };
  if (!rest.startsWith(`${API_ROOT}/`)) return { kind: 'not-found' };
  const segments = rest
    .slice(API_ROOT.length + 1)
    .split('/')
    .map(decodeSegment);
  return matchTail(segments);
}

function matchTail(s: string[]): RawRoute {
  const n = s.length;
  const last = s[n - 1] ?? '';
  if (n === 1 && last === '_catalog') return { kind: 'catalog' };
  if (n < 2) return { kind: 'api-not-found' };
  const prev = s[n - 2];
  const nameUpTo = (count: number): string => s.slice(0, n - count).join('/');
  // Each shape needs a non-empty name before it; an empty one is left to name validation.
  if (n >= 3 && prev === 'tags' && last === 'list') return { kind: 'tags', name: nameUpTo(2) };
  if (n >= 3 && prev === 'manifests') return { kind: 'manifest', name: nameUpTo(2), reference: last };
  if (n >= 3 && prev === 'blobs' && last === 'uploads') return { kind: 'upload-start', name: nameUpTo(2) };
  if (n >= 3 && prev === 'blobs') return { kind: 'blob', name: nameUpTo(2), digest: last };
  if (n >= 4 && s[n - 3] === 'blobs' && prev === 'uploads') {
    if (last === '') return { kind: 'upload-start', name: nameUpTo(3) };
    return { kind: 'upload', name: nameUpTo(3), id: last };
  }
  if (n >= 3 && prev === 'referrers') return { kind: 'referrers', name: nameUpTo(2), digest: last };
  return { kind: 'api-not-found' };
}

/**
 * Validates a matched route's identifiers.
 * @throws RegistryError NAME_INVALID, DIGEST_INVALID, TAG_INVALID or BLOB_UPLOAD_UNKNOWN
 */
export function validateRoute(raw: RawRoute): Route {
  switch (raw.kind) {
    case 'tags':
      return { kind: 'tags', name: parseRepositoryName(raw.name) };
    case 'upload-start':
      return { kind: 'upload-start', name: parseRepositoryName(raw.name) };
    case 'manifest': {
      const name = parseRepositoryName(raw.name);
      return { kind: 'manifest', name, reference: parseManifestReference(raw.reference) };
    }
    case 'blob': {
      const name = parseRepositoryName(raw.name);
      return { kind: 'blob', name, digest: parseDigest(raw.digest) };
    }
    case 'referrers': {
      const name = parseRepositoryName(raw.name);
      return { kind: 'referrers', name, digest: parseDigest(raw.digest) };
    }
    case 'upload': {
      const name = parseRepositoryName(raw.name);
      return { kind: 'upload', name, id: parseUploadId(raw.id) };
    }
    default:
      return raw;
  }
}

/** Parses a path into a validated route; see matchRoute and validateRoute. */
export function parseRoute(pathname: string, prefix: string): Route {
  return validateRoute(matchRoute(pathname, prefix));
}

function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    const decoded = decodeURIComponent(segment);
    // An escaped '/' must not split or join names: keep the raw form, which validation rejects.
    return decoded.includes('/') ? segment : decoded;
  } catch {
    // A malformed escape cannot form a valid identifier; validation rejects it as is.
    return segment;
  }
}
