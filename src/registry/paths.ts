/**
 * The one place that knows CNCF distribution's storage layout (registry:2, v2.8), so data
 * directories move between it and Berth unchanged. Every function takes branded, validated
 * identifiers, so nothing unchecked can reach a driver path.
 *
 * ```
 * /docker/registry/v2/blobs/<alg>/<hex[0:2]>/<hex>/data
 * /docker/registry/v2/repositories/<name>/_layers/<alg>/<hex>/link
 * /docker/registry/v2/repositories/<name>/_manifests/revisions/<alg>/<hex>/link
 * /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
 * /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link
 * /docker/registry/v2/repositories/<name>/_uploads/<uuid>/{data,startedat}
 * /docker/registry/v2/repositories/<name>/_referrers/<subject alg>/<subject hex>/<alg>/<hex>/link
 * ```
 *
 * `_referrers` is Berth's own extension (registry:2 ignores `_`-prefixed directories it does
 * not know). It is a derived index: every entry can be rebuilt by reading the `subject` of each
 * manifest revision linked in the repository, so losing it loses no data.
 */
import {
  type Digest,
  digestAlgorithm,
  digestHex,
  isDigest,
  type RepositoryName,
  type Tag,
  type UploadId,
} from './names.js';

export const REGISTRY_ROOT = '/docker/registry/v2';
export const BLOBS_ROOT = `${REGISTRY_ROOT}/blobs`;
export const REPOSITORIES_ROOT = `${REGISTRY_ROOT}/repositories`;

/** Directory names that mark a directory under `repositories/` as a repository. */
export const REPOSITORY_MARKERS: readonly string[] = ['_layers', '_manifests'];

/** `<alg>/<hex>`: how distribution spells a digest as two path components in links. */
function digestComponents(digest: Digest): string {
  return `${digestAlgorithm(digest)}/${digestHex(digest)}`;
}

/** The directory holding a blob's `data` (distribution shards by the first two hex digits). */
export function blobDir(digest: Digest): string {
  const hex = digestHex(digest);
  return `${BLOBS_ROOT}/${digestAlgorithm(digest)}/${hex.slice(0, 2)}/${hex}`;
}

export function blobDataPath(digest: Digest): string {
  return `${blobDir(digest)}/data`;
}

export function repositoryDir(name: RepositoryName): string {
  return `${REPOSITORIES_ROOT}/${name}`;
}

export function layerLinkDir(name: RepositoryName, digest: Digest): string {
  return `${repositoryDir(name)}/_layers/${digestComponents(digest)}`;
}

export function layerLinkPath(name: RepositoryName, digest: Digest): string {
  return `${layerLinkDir(name, digest)}/link`;
}

export function manifestRevisionDir(name: RepositoryName, digest: Digest): string {
  return `${repositoryDir(name)}/_manifests/revisions/${digestComponents(digest)}`;
}

export function manifestRevisionLinkPath(name: RepositoryName, digest: Digest): string {
  return `${manifestRevisionDir(name, digest)}/link`;
}

export function tagsDir(name: RepositoryName): string {
  return `${repositoryDir(name)}/_manifests/tags`;
}

export function tagDir(name: RepositoryName, tag: Tag): string {
  return `${tagsDir(name)}/${tag}`;
}

export function tagCurrentLinkPath(name: RepositoryName, tag: Tag): string {
  return `${tagDir(name, tag)}/current/link`;
}

export function tagIndexLinkPath(name: RepositoryName, tag: Tag, digest: Digest): string {
  return `${tagDir(name, tag)}/index/${digestComponents(digest)}/link`;
}

export function uploadDir(name: RepositoryName, id: UploadId): string {
  return `${repositoryDir(name)}/_uploads/${id}`;
}

export function uploadDataPath(name: RepositoryName, id: UploadId): string {
  return `${uploadDir(name, id)}/data`;
}

export function uploadStartedAtPath(name: RepositoryName, id: UploadId): string {
  return `${uploadDir(name, id)}/startedat`;
}

/** The directory listing every manifest whose `subject` is `subject`, as `<alg>/<hex>/link`. */
export function referrersDir(name: RepositoryName, subject: Digest): string {
  return `${repositoryDir(name)}/_referrers/${digestComponents(subject)}`;
}

export function referrerDir(name: RepositoryName, subject: Digest, referrer: Digest): string {
  return `${referrersDir(name, subject)}/${digestComponents(referrer)}`;
}

export function referrerLinkPath(name: RepositoryName, subject: Digest, referrer: Digest): string {
  return `${referrerDir(name, subject, referrer)}/link`;
}

/** The bytes of a link file: the digest exactly, with no trailing newline, as distribution writes it. */
export function linkContent(digest: Digest): Buffer {
  return Buffer.from(digest, 'utf8');
}

/**
 * Reads a link file's bytes back into a digest; undefined when they are not one we can use.
 * Distribution trims nothing, but tolerating surrounding whitespace costs nothing.
 */
export function parseLinkContent(content: Uint8Array): Digest | undefined {
  const text = Buffer.from(content).toString('utf8').trim();
  return isDigest(text) ? text : undefined;
}

/** The digest spelled by a `<dir>/<alg>/<hex>` path, or undefined when it is not one. */
export function digestFromDirPath(path: string): Digest | undefined {
  const parts = path.split('/');
  const candidate = `${parts.at(-2)}:${parts.at(-1)}`;
  return isDigest(candidate) ? candidate : undefined;
}

/** The last component of a driver path (for names listed under a known directory). */
export function lastComponent(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * The repository name for a directory below `repositories/`, or undefined when `path` is not
 * below it. The caller still validates the result with the name grammar.
 */
export function repositoryNameFromDir(path: string): string | undefined {
  const prefix = `${REPOSITORIES_ROOT}/`;
  return path.startsWith(prefix) && path.length > prefix.length ? path.slice(prefix.length) : undefined;
}
