/**
 * Manifest content negotiation by `Accept`, for manifests fetched by tag. Fetched by digest,
 * the stored bytes are always served (registry:2 hides an OCI index fetched by digest from a
 * client that does not list it; we do not).
 */
import type { IncomingMessage } from 'node:http';

export const MEDIA_TYPES = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
} as const;

const MANIFEST_TYPES: ReadonlySet<string> = new Set(Object.values(MEDIA_TYPES));

/** What the client's `Accept` headers allow. */
export interface Acceptance {
  /** Whether the client expressed any manifest-type preference at all. */
  restricted: boolean;
  /** Whether `type` may be served. */
  accepts(type: string): boolean;
}

const UNRESTRICTED: Acceptance = { restricted: false, accepts: () => true };

/**
 * Reads every `Accept` header (several headers, comma lists, parameters). Only a header that
 * names at least one manifest media type restricts anything; `*\/*` (or `type/*`) accepts all.
 */
export function parseAccept(req: IncomingMessage): Acceptance {
  // node:http joins repeated Accept headers with ", ", so one string holds them all.
  const header = req.headers.accept;
  if (header === undefined) return UNRESTRICTED;
  let acceptance = parsedAccepts.get(header);
  if (acceptance === undefined) {
    acceptance = parseAcceptHeader(header);
    // Clients send a handful of distinct headers: a small memo spares parsing on every pull.
    if (parsedAccepts.size >= MAX_PARSED_ACCEPTS) parsedAccepts.clear();
    parsedAccepts.set(header, acceptance);
  }
  return acceptance;
}

const parsedAccepts = new Map<string, Acceptance>();
const MAX_PARSED_ACCEPTS = 64;

function parseAcceptHeader(header: string): Acceptance {
  const accepted = new Set<string>();
  const wildcards: string[] = [];
  let namesManifestType = false;
  for (const entry of header.split(',')) {
    const [rawType = '', ...params] = entry.split(';');
    const type = rawType.trim().toLowerCase();
    if (type === '') continue;
    // q=0 means "not acceptable" (RFC 9110 §12.4.2).
    if (params.some((p) => /^\s*q\s*=\s*0(?:\.0{0,3})?\s*$/i.test(p))) continue;
    if (type === '*/*') return UNRESTRICTED;
    if (type.endsWith('/*')) wildcards.push(type.slice(0, -1));
    else accepted.add(type);
    if (MANIFEST_TYPES.has(type)) namesManifestType = true;
  }
  if (!namesManifestType) return UNRESTRICTED;
  return {
    restricted: true,
    accepts: (type) => {
      const t = type.toLowerCase();
      return accepted.has(t) || wildcards.some((w) => t.startsWith(w));
    },
  };
}

/** The `linux/amd64` child of a Docker manifest list, or undefined. */
export function linuxAmd64Child(payload: Buffer): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const manifests = (parsed as { manifests?: unknown }).manifests;
  if (!Array.isArray(manifests)) return undefined;
  for (const entry of manifests as Array<{ digest?: unknown; platform?: { os?: unknown; architecture?: unknown } }>) {
    if (
      entry?.platform?.os === 'linux' &&
      entry.platform.architecture === 'amd64' &&
      typeof entry.digest === 'string'
    ) {
      return entry.digest;
    }
  }
  return undefined;
}
