/**
 * What a stored manifest references, read leniently: garbage collection must understand every
 * manifest a registry may hold (Docker schema1 from an old registry:2, OCI artifacts of the
 * 1.1-rc `blobs` shape), because a reference it fails to see is a blob it would delete.
 */
import { type Digest, isDigest } from '../registry/names.js';

export interface ManifestReferences {
  /** Blobs the manifest needs: config, layers (foreign ones included, harmlessly), schema1 `fsLayers`, artifact `blobs`. */
  blobs: Digest[];
  /** Child manifests of an index or manifest list. */
  manifests: Digest[];
  /** The manifest this one refers to (OCI 1.1 `subject`), when it has one. */
  subject?: Digest;
}

/** A manifest whose references cannot be read; collecting around it could delete what it needs. */
export class UnreadableManifestError extends Error {
  readonly digest: string;
  constructor(digest: string, why: string) {
    super(`manifest ${digest} cannot be read as JSON (${why}); refusing to collect around it`);
    this.name = 'UnreadableManifestError';
    this.digest = digest;
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function descriptorDigest(value: unknown, key = 'digest'): Digest | undefined {
  if (!isObject(value)) return undefined;
  const digest = value[key];
  return typeof digest === 'string' && isDigest(digest) ? digest : undefined;
}

function digestsOf(list: unknown, key = 'digest'): Digest[] {
  if (!Array.isArray(list)) return [];
  const out: Digest[] = [];
  for (const item of list) {
    const digest = descriptorDigest(item, key);
    if (digest !== undefined) out.push(digest);
  }
  return out;
}

/**
 * Reads a stored manifest's references.
 * @throws UnreadableManifestError when the payload is not a JSON object.
 */
export function manifestReferences(digest: string, payload: Uint8Array): ManifestReferences {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch (error) {
    throw new UnreadableManifestError(digest, (error as Error).message);
  }
  if (!isObject(doc)) throw new UnreadableManifestError(digest, 'not a JSON object');
  const blobs: Digest[] = [];
  const config = descriptorDigest(doc['config']);
  if (config !== undefined) blobs.push(config);
  blobs.push(...digestsOf(doc['layers']), ...digestsOf(doc['blobs']), ...digestsOf(doc['fsLayers'], 'blobSum'));
  const references: ManifestReferences = { blobs, manifests: digestsOf(doc['manifests']) };
  const subject = descriptorDigest(doc['subject']);
  if (subject !== undefined) references.subject = subject;
  return references;
}
