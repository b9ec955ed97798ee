/**
 * Parsing and structural validation of pushed manifests, one handler per media type, and the
 * lenient description of stored ones (distribution stores no media type: it is derived from
 * the payload on every read).
 */
import { RegistryError } from './errors.js';
import { isManifestMediaType, MEDIA_TYPES, normalizeContentType, SCHEMA1_MEDIA_TYPES } from './media-types.js';
import { type Digest, isDigest } from './names.js';

type Json = Record<string, unknown>;

/** What the services need from a validated manifest. */
export interface ParsedManifest {
  mediaType: string;
  /** Blobs (config and layers) that must be linked in the repository; foreign layers are left out. */
  blobs: Digest[];
  /** Child manifests (of an index) that must be revisions in the repository. */
  manifests: Digest[];
  subject?: Digest;
}

/** What a stored manifest says about itself, as the referrers API reports it. */
export interface ManifestDescription {
  mediaType: string;
  /** `artifactType`, else the config's media type for image manifests. */
  artifactType?: string;
  annotations?: Record<string, string>;
  subject?: Digest;
}

interface ManifestHandler {
  /** @throws RegistryError MANIFEST_INVALID */
  validate(doc: Json): Omit<ParsedManifest, 'mediaType'>;
}

interface ParsedDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
}

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message, detail);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringMap(value: unknown): value is Record<string, string> {
  return isObject(value) && Object.values(value).every((v) => typeof v === 'string');
}

function parseDescriptor(value: unknown, where: string): ParsedDescriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size, urls, annotations } = value;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(`${where}.mediaType must be a string`);
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw invalid(`${where}.digest is not a supported digest`, { digest: String(digest).slice(0, 200) });
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  if (annotations !== undefined && !isStringMap(annotations)) throw invalid(`${where}.annotations must map strings`);
  if (urls === undefined) return { mediaType, digest, size };
  if (!Array.isArray(urls) || !urls.every((u) => typeof u === 'string')) throw invalid(`${where}.urls must be strings`);
  return { mediaType, digest, size, urls };
}

function parseDescriptorList(value: unknown, where: string): ParsedDescriptor[] {
  if (!Array.isArray(value)) throw invalid(`${where} must be an array`);
  return value.map((item, i) => parseDescriptor(item, `${where}[${i}]`));
}

/** The optional OCI 1.1 fields shared by image manifests and indexes. */
function parseArtifactFields(doc: Json): { subject?: Digest } {
  if (doc['artifactType'] !== undefined && typeof doc['artifactType'] !== 'string') {
    throw invalid('artifactType must be a string');
  }
  if (doc['annotations'] !== undefined && !isStringMap(doc['annotations'])) {
    throw invalid('annotations must map strings to strings');
  }
  if (doc['subject'] === undefined) return {};
  return { subject: parseDescriptor(doc['subject'], 'subject').digest };
}

/** A layer with `urls` is fetched from elsewhere (foreign / non-distributable), so distribution does not require it. */
function requiredBlobs(descriptors: ParsedDescriptor[]): Digest[] {
  return descriptors.filter((d) => d.urls === undefined || d.urls.length === 0).map((d) => d.digest);
}

function imageManifestHandler(withArtifactFields: boolean): ManifestHandler {
  return {
    validate(doc) {
      if (doc['manifests'] !== undefined) throw invalid('an image manifest has no manifests field');
      if (doc['config'] === undefined) throw invalid('config descriptor is required');
      const config = parseDescriptor(doc['config'], 'config');
      const layers = doc['layers'] === undefined ? [] : parseDescriptorList(doc['layers'], 'layers');
      const extra = withArtifactFields ? parseArtifactFields(doc) : {};
      return { blobs: requiredBlobs([config, ...layers]), manifests: [], ...extra };
    },
  };
}

function indexHandler(withArtifactFields: boolean): ManifestHandler {
  return {
    validate(doc) {
      if (doc['config'] !== undefined || doc['layers'] !== undefined) {
        throw invalid('an index has no config or layers field');
      }
      const children = parseDescriptorList(doc['manifests'], 'manifests');
      const extra = withArtifactFields ? parseArtifactFields(doc) : {};
      return { blobs: [], manifests: children.map((d) => d.digest), ...extra };
    },
  };
}

const HANDLERS: Readonly<Record<string, ManifestHandler>> = {
  [MEDIA_TYPES.dockerManifest]: imageManifestHandler(false),
  [MEDIA_TYPES.dockerManifestList]: indexHandler(false),
  [MEDIA_TYPES.ociManifest]: imageManifestHandler(true),
  [MEDIA_TYPES.ociIndex]: indexHandler(true),
};

/** Media type from structure alone, for manifests that carry none (OCI makes the field optional). */
function inferMediaType(doc: Json): string {
  return Array.isArray(doc['manifests']) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest;
}

function isSchema1(doc: Json, contentType: string | undefined): boolean {
  return (
    doc['schemaVersion'] === 1 ||
    (typeof doc['mediaType'] === 'string' && SCHEMA1_MEDIA_TYPES.includes(doc['mediaType'])) ||
    (contentType !== undefined && SCHEMA1_MEDIA_TYPES.includes(contentType))
  );
}

function parseJson(payload: Buffer): Json {
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    throw new RegistryError('MANIFEST_INVALID', 'manifest is not valid JSON', undefined, { cause: error });
  }
  if (!isObject(doc)) throw invalid('manifest must be a JSON object');
  return doc;
}

/**
 * Validates a pushed manifest and determines its media type: the body's `mediaType` (which must
 * agree with a manifest Content-Type), else the Content-Type when it names a manifest type, else
 * inferred from the structure.
 * @throws RegistryError MANIFEST_INVALID
 */
export function parseManifest(payload: Buffer, contentType: string | undefined): ParsedManifest {
  const doc = parseJson(payload);
  const declared = normalizeContentType(contentType);
  if (isSchema1(doc, declared)) throw invalid('schema1 manifests are not supported');
  if (doc['schemaVersion'] !== 2) throw invalid('schemaVersion must be 2');
  let mediaType: string;
  const own = doc['mediaType'];
  if (own !== undefined) {
    if (typeof own !== 'string') throw invalid('mediaType must be a string');
    if (declared !== undefined && isManifestMediaType(declared) && declared !== own) {
      throw invalid('manifest mediaType does not match Content-Type', { mediaType: own, contentType: declared });
    }
    mediaType = own;
  } else {
    mediaType = declared !== undefined && isManifestMediaType(declared) ? declared : inferMediaType(doc);
  }
  const handler = HANDLERS[mediaType];
  if (handler === undefined) throw invalid('unsupported manifest media type', { mediaType });
  return { mediaType, ...handler.validate(doc) };
}

/**
 * Describes a stored manifest without judging it: stored data may predate these rules (for
 * example schema1 manifests written by an older registry:2).
 */
export function describeManifest(payload: Buffer): ManifestDescription {
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    return { mediaType: MEDIA_TYPES.ociManifest };
  }
  if (!isObject(doc)) return { mediaType: MEDIA_TYPES.ociManifest };
  let mediaType: string;
  if (typeof doc['mediaType'] === 'string') mediaType = doc['mediaType'];
  else if (doc['schemaVersion'] === 1) {
    mediaType = doc['signatures'] === undefined ? MEDIA_TYPES.dockerSchema1 : MEDIA_TYPES.dockerSchema1Signed;
  } else mediaType = inferMediaType(doc);
  const description: ManifestDescription = { mediaType };
  const config = doc['config'];
  if (typeof doc['artifactType'] === 'string') description.artifactType = doc['artifactType'];
  else if (isObject(config) && typeof config['mediaType'] === 'string' && mediaType === MEDIA_TYPES.ociManifest) {
    description.artifactType = config['mediaType'];
  }
  if (isStringMap(doc['annotations'])) description.annotations = doc['annotations'];
  const subject = doc['subject'];
  if (isObject(subject) && typeof subject['digest'] === 'string' && isDigest(subject['digest'])) {
    description.subject = subject['digest'];
  }
  return description;
}
