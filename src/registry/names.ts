/**
 * Validated identifiers. Each branded type can only be minted by its parser, so an
 * unchecked string from a request can never reach a storage path.
 */
import { RegistryError } from './errors.js';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type RepositoryName = Brand<string, 'RepositoryName'>;
export type Tag = Brand<string, 'Tag'>;
export type Digest = Brand<string, 'Digest'>;
export type UploadId = Brand<string, 'UploadId'>;

export type DigestAlgorithm = 'sha256' | 'sha512';

/** Distribution-spec path component grammar; a name is components joined by '/'. */
const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_PATTERN = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_PATTERN = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
/** Any syntactically valid digest per the OCI grammar, supported or not. */
const ANY_DIGEST_PATTERN = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const UPLOAD_ID_PATTERN = /^[a-zA-Z0-9-_.=]{1,128}$/;

/** Distribution limits the full name (including any registry host prefix) to 255 characters. */
export const MAX_NAME_LENGTH = 255;

export function isRepositoryName(value: string): value is RepositoryName {
  return value.length > 0 && value.length <= MAX_NAME_LENGTH && NAME_PATTERN.test(value);
}

/** @throws RegistryError NAME_INVALID */
export function parseRepositoryName(value: string): RepositoryName {
  if (!isRepositoryName(value)) {
    throw new RegistryError('NAME_INVALID', 'invalid repository name', { name: value.slice(0, 300) });
  }
  return value;
}

export function isTag(value: string): value is Tag {
  return TAG_PATTERN.test(value);
}

/** @throws RegistryError TAG_INVALID */
export function parseTag(value: string): Tag {
  if (!isTag(value)) throw new RegistryError('TAG_INVALID', 'invalid tag', { tag: value.slice(0, 200) });
  return value;
}

export function isDigest(value: string): value is Digest {
  return DIGEST_PATTERN.test(value);
}

/**
 * Parses a digest this registry can verify (sha256 or sha512, lower-case hex).
 * @throws RegistryError DIGEST_INVALID for malformed or unsupported digests
 */
export function parseDigest(value: string): Digest {
  if (isDigest(value)) return value;
  const detail = { digest: value.slice(0, 200) };
  if (ANY_DIGEST_PATTERN.test(value)) {
    throw new RegistryError('DIGEST_INVALID', 'unsupported digest algorithm or malformed encoding', detail);
  }
  throw new RegistryError('DIGEST_INVALID', 'invalid digest', detail);
}

/** A manifest reference is either a tag or a digest; a string containing ':' is a digest. */
export type ManifestReference = { kind: 'tag'; tag: Tag } | { kind: 'digest'; digest: Digest };

/** @throws RegistryError DIGEST_INVALID or TAG_INVALID */
export function parseManifestReference(value: string): ManifestReference {
  if (value.includes(':')) return { kind: 'digest', digest: parseDigest(value) };
  return { kind: 'tag', tag: parseTag(value) };
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.startsWith('sha512:') ? 'sha512' : 'sha256';
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function isUploadId(value: string): value is UploadId {
  return UPLOAD_ID_PATTERN.test(value) && value !== '.' && value !== '..';
}

/** @throws RegistryError BLOB_UPLOAD_UNKNOWN */
export function parseUploadId(value: string): UploadId {
  if (!isUploadId(value))
    throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown', { uuid: value.slice(0, 200) });
  return value;
}

/** Mints a digest from a freshly computed hash; only for code that hashed the bytes itself. */
export function digestFromHex(algorithm: DigestAlgorithm, hex: string): Digest {
  return `${algorithm}:${hex}` as Digest;
}
