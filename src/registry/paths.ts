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

/**
 * Berth's saved sha256 state of a session after `offset` bytes (see upload-hash.ts). Beside, not
 * inside, registry:2's own `hashstates/`, whose Go format Berth does not write.
 */
export function uploadHashStatePath(name: RepositoryName, id: UploadId, offset: number): string {
  return `${uploadHashStatesDir(name, id)}/${offset}`;
}

export function uploadHashStatesDir(name: RepositoryName, id: UploadId): string {
  return `${uploadDir(name, id)}/berth-hashstates/sha256`;
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
  // Called for every link and blob a collection lists: no split of the whole path.
  const hexAt = path.lastIndexOf('/');
  const algorithmAt = path.lastIndexOf('/', hexAt - 1);
  if (hexAt < 0 || algorithmAt < 0) return undefined;
  const candidate = `${path.slice(algorithmAt + 1, hexAt)}:${path.slice(hexAt + 1)}`;
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

/** `_layers/<alg>/…`: every blob the repository links as a layer or config. */
export function layersDir(name: RepositoryName): string {
  return `${repositoryDir(name)}/_layers`;
}

/** `_manifests/revisions/<alg>/…`: every manifest revision of the repository. */
export function manifestRevisionsDir(name: RepositoryName): string {
  return `${repositoryDir(name)}/_manifests/revisions`;
}

/** The directory of one entry of a tag's history (`index/<alg>/<hex>`), as distribution's vacuum removes it. */
export function tagIndexEntryDir(name: RepositoryName, tag: Tag, digest: Digest): string {
  return `${tagDir(name, tag)}/index/${digestComponents(digest)}`;
}

/** `_uploads/`: the repository's upload sessions, one directory each. */
export function uploadsDir(name: RepositoryName): string {
  return `${repositoryDir(name)}/_uploads`;
}

/** The digest of a blob's `blobs/<alg>/<xx>/<hex>/data` path, or undefined when `path` is not one. */
export function blobDigestFromDataPath(path: string): Digest | undefined {
  if (!path.startsWith(`${BLOBS_ROOT}/`) || !path.endsWith('/data')) return undefined;
  const parts = path.slice(BLOBS_ROOT.length + 1).split('/');
  if (parts.length !== 4) return undefined;
  const [algorithm, shard, hex] = parts;
  const candidate = `${algorithm}:${hex}`;
  return hex !== undefined && shard === hex.slice(0, 2) && isDigest(candidate) ? candidate : undefined;
}

/**
 * Berth's own bookkeeping for online garbage collection, beside (not inside) distribution's
 * `blobs/` and `repositories/`, which are all registry:2 reads:
 *
 * ```
 * /docker/registry/v2/_berth/gc/lease                            which replica collects now
 * /docker/registry/v2/_berth/gc/blobs/<alg>/<hex>/linked.<ms>.<id>    a writer linked the blob at <ms>
 * /docker/registry/v2/_berth/gc/blobs/<alg>/<hex>/deleting.<ms>.<id>  a collector is deleting it since <ms>
 * ```
 *
 * None of it is needed to serve content: losing it only makes a running collection less
 * cautious, which is why writers and collectors follow the protocol in `src/gc/fence.ts`.
 */
export const BERTH_ROOT = `${REGISTRY_ROOT}/_berth`;
export const GC_ROOT = `${BERTH_ROOT}/gc`;
export const GC_LEASE_PATH = `${GC_ROOT}/lease`;
export const GC_BLOBS_ROOT = `${GC_ROOT}/blobs`;

/** The directory of a blob's fence entries. */
export function gcBlobDir(digest: Digest): string {
  return `${GC_BLOBS_ROOT}/${digestComponents(digest)}`;
}

/** `entry` must be a single path component (`[A-Za-z0-9._-]+`). */
export function gcBlobEntryPath(digest: Digest, entry: string): string {
  return `${gcBlobDir(digest)}/${entry}`;
}
