/**
 * The mark phase: read every repository once — its manifest revisions, its tags (each tag's
 * `current` link read once into a map), its layer links — then mark every blob a kept manifest
 * needs. Cost is O(repositories + manifests + tags + links): no manifest is ever compared with
 * every tag, unlike registry:2's `--delete-untagged`, which lists all tags for each manifest.
 *
 * Which manifests are kept:
 * - by default every manifest revision of every repository;
 * - with `deleteUntagged`, per repository, those a tag reaches: the manifest a tag points at,
 *   the children of a kept index (recursively), and the referrers of a kept manifest (manifests
 *   whose `subject` is kept, recursively: signatures, SBOMs and their own signatures). A
 *   manifest kept in one repository does not keep an untagged copy of it in another.
 */
import { mapLimit } from '../registry/concurrency.js';
import { type Digest, isRepositoryName, isTag, type RepositoryName, type Tag } from '../registry/names.js';
import {
  blobDataPath,
  digestFromDirPath,
  lastComponent,
  layersDir,
  manifestRevisionsDir,
  REPOSITORIES_ROOT,
  REPOSITORY_MARKERS,
  repositoryNameFromDir,
  tagCurrentLinkPath,
  tagDir,
  tagsDir,
} from '../registry/paths.js';
import type { CallOptions } from '../registry/types.js';
import type { StorageDriver } from '../storage/driver.js';
import { isPathNotFound } from '../storage/errors.js';
import { type ManifestReferences, manifestReferences } from './references.js';
import { scanLink, scanList } from './scan.js';

/** Stored manifests larger than this are not manifests any client pushed; reading one would be a mistake. */
const MAX_STORED_MANIFEST_BYTES = 64 * 1024 * 1024;
const PER_REPOSITORY_CONCURRENCY = 8;

export interface RepositoryScan {
  name: RepositoryName;
  /** Manifest revisions linked in the repository. */
  revisions: Digest[];
  /** The references of each revision whose manifest could be read. */
  manifests: Map<Digest, ManifestReferences>;
  /** Revisions whose manifest blob is gone (reported, never marked). */
  missing: Digest[];
  /** Each tag's current target (read only with `deleteUntagged`: otherwise every revision is kept anyway). */
  tags: Map<Tag, Digest>;
  /** How many tags the repository has (counted only with `deleteUntagged`). */
  tagCount: number;
  /** Blobs linked in `_layers`. */
  layers: Digest[];
  /** With `deleteUntagged`: each tag's history (`index/…`) entries, to remove with a manifest. */
  tagHistory?: Map<Tag, Set<Digest>>;
}

export interface UntaggedManifest {
  repository: RepositoryName;
  digest: Digest;
  /** Its subject, whose `_referrers` index entry goes with it. */
  subject?: Digest;
  /** Tags whose history lists it. */
  tags: Tag[];
}

export interface MarkResult {
  repositories: RepositoryScan[];
  /** Every blob a kept manifest needs, the manifests' own blobs included. */
  marked: Set<Digest>;
  /** With `deleteUntagged`: the manifests to remove, in repository order. */
  untagged: UntaggedManifest[];
  /** How many manifests were kept (marked). */
  keptManifests: number;
}

export interface MarkOptions extends CallOptions {
  deleteUntagged: boolean;
  /** Storage calls in flight at once. */
  concurrency: number;
  /** Receives registry:2-style lines ("repo: marking manifest …"), in repository order. */
  emit?: ((line: string) => void) | undefined;
  /** Called as repositories are scanned. */
  progress?: ((scanned: number) => void) | undefined;
}

/**
 * Every repository, sorted, found by listing directories only: a directory holding `_layers` or
 * `_manifests` is a repository, and `_`-prefixed directories are never entered. Unlike the
 * catalog's walk it describes no entry, so it costs one listing per directory on any driver.
 */
export async function listRepositories(driver: StorageDriver, opts: CallOptions & { concurrency: number }) {
  const found: RepositoryName[] = [];
  async function visit(dir: string): Promise<void> {
    const children = await scanList(driver, dir, opts);
    const name = repositoryNameFromDir(dir);
    if (
      name !== undefined &&
      isRepositoryName(name) &&
      children.some((c) => REPOSITORY_MARKERS.includes(lastComponent(c)))
    ) {
      found.push(name);
    }
    await mapLimit(
      children.filter((child) => !lastComponent(child).startsWith('_')),
      opts.concurrency,
      visit,
    );
  }
  await visit(REPOSITORIES_ROOT);
  return found.sort();
}

/** The digests of `<dir>/<alg>/<hex>` entries, one listing per algorithm. */
async function listDigestDirs(driver: StorageDriver, dir: string, opts: CallOptions): Promise<Digest[]> {
  const digests: Digest[] = [];
  for (const algorithmDir of await scanList(driver, dir, opts)) {
    for (const entry of await scanList(driver, algorithmDir, opts)) {
      const digest = digestFromDirPath(entry);
      if (digest !== undefined) digests.push(digest);
    }
  }
  return digests;
}

async function readManifest(driver: StorageDriver, digest: Digest, opts: CallOptions): Promise<Buffer | undefined> {
  try {
    return await driver.getContent(blobDataPath(digest), {
      signal: opts.signal,
      maxBytes: MAX_STORED_MANIFEST_BYTES,
      uncached: true,
    });
  } catch (error) {
    if (isPathNotFound(error)) return undefined;
    throw error;
  }
}

/** Reads one repository: revisions and their manifests, tags, layer links. */
export async function scanRepository(
  driver: StorageDriver,
  name: RepositoryName,
  opts: CallOptions & {
    concurrency: number;
    /** Read tags' targets and histories, as removing untagged manifests needs. */
    tagHistory: boolean;
    /** Shared across repositories: a manifest pushed to several is read and parsed once. */
    references: Map<Digest, Promise<ManifestReferences | undefined>>;
  },
): Promise<RepositoryScan> {
  const limit = opts.concurrency;
  const [revisions, tagNames, layers] = await Promise.all([
    listDigestDirs(driver, manifestRevisionsDir(name), opts),
    // Without removing untagged manifests every revision is kept: tags do not matter.
    opts.tagHistory
      ? scanList(driver, tagsDir(name), opts).then((paths) =>
          paths.map(lastComponent).filter((tag): tag is Tag => isTag(tag)),
        )
      : [],
    listDigestDirs(driver, layersDir(name), opts),
  ]);
  const tags = new Map<Tag, Digest>();
  if (opts.tagHistory) {
    const targets = await mapLimit(tagNames, limit, (tag) => scanLink(driver, tagCurrentLinkPath(name, tag), opts));
    tagNames.forEach((tag, i) => {
      const target = targets[i];
      if (target !== undefined) tags.set(tag, target);
    });
  }
  const read = (digest: Digest): Promise<ManifestReferences | undefined> => {
    let pending = opts.references.get(digest);
    if (pending === undefined) {
      pending = readManifest(driver, digest, opts).then((payload) =>
        payload === undefined ? undefined : manifestReferences(digest, payload),
      );
      opts.references.set(digest, pending);
    }
    return pending;
  };
  const references = await mapLimit(revisions, limit, read);
  const manifests = new Map<Digest, ManifestReferences>();
  const missing: Digest[] = [];
  revisions.forEach((digest, i) => {
    const refs = references[i];
    if (refs === undefined) missing.push(digest);
    else manifests.set(digest, refs);
  });
  const scan: RepositoryScan = { name, revisions, manifests, missing, tags, tagCount: tagNames.length, layers };
  if (opts.tagHistory) {
    const histories = await mapLimit(tagNames, limit, (tag) =>
      listDigestDirs(driver, `${tagDir(name, tag)}/index`, opts),
    );
    scan.tagHistory = new Map(tagNames.map((tag, i) => [tag, new Set(histories[i])]));
  }
  return scan;
}

/** The revisions of `scan` that its tags keep, following index children and referrers. */
export function reachableFromTags(scan: RepositoryScan): Set<Digest> {
  const referrers = new Map<Digest, Digest[]>();
  for (const [digest, refs] of scan.manifests) {
    if (refs.subject === undefined) continue;
    const list = referrers.get(refs.subject);
    if (list === undefined) referrers.set(refs.subject, [digest]);
    else list.push(digest);
  }
  const revisions = new Set(scan.revisions);
  const kept = new Set<Digest>();
  const queue = [...scan.tags.values()].filter((d) => revisions.has(d));
  while (queue.length > 0) {
    const digest = queue.pop()!;
    if (kept.has(digest)) continue;
    kept.add(digest);
    const refs = scan.manifests.get(digest);
    for (const child of refs?.manifests ?? []) if (revisions.has(child)) queue.push(child);
    for (const referrer of referrers.get(digest) ?? []) queue.push(referrer);
  }
  return kept;
}

/**
 * Marks from the kept manifests of one scanned repository into `marked`, emitting lines the way
 * registry:2 does (a blob is announced the first time it is marked).
 * @returns the manifests that are not kept.
 */
function markRepository(
  scan: RepositoryScan,
  kept: Set<Digest> | undefined,
  marked: Set<Digest>,
  emit: ((line: string) => void) | undefined,
): Digest[] {
  const { name } = scan;
  emit?.(name);
  const mark = (digest: Digest): boolean => {
    if (marked.has(digest)) return false;
    marked.add(digest);
    emit?.(`${name}: marking blob ${digest}`);
    return true;
  };
  const visit = (digest: Digest): void => {
    const refs = scan.manifests.get(digest);
    if (refs === undefined) return;
    for (const blob of refs.blobs) mark(blob);
    for (const child of refs.manifests) if (mark(child)) visit(child);
  };
  const dropped: Digest[] = [];
  for (const digest of scan.revisions) {
    if (kept !== undefined && !kept.has(digest)) {
      dropped.push(digest);
      continue;
    }
    if (!scan.manifests.has(digest)) continue;
    emit?.(`${name}: marking manifest ${digest} `);
    marked.add(digest);
    visit(digest);
  }
  return dropped;
}

/** Scans every repository in `names` and marks what is kept. */
export async function mark(
  driver: StorageDriver,
  names: readonly RepositoryName[],
  opts: MarkOptions,
): Promise<MarkResult> {
  let scanned = 0;
  const references = new Map<Digest, Promise<ManifestReferences | undefined>>();
  // Reading one repository is a chain of small dependent reads: many repositories at once, each
  // with a small fan-out, keep storage busy where a few repositories at a time wait on latency.
  const scans = await mapLimit(names, opts.concurrency, async (name) => {
    const scan = await scanRepository(driver, name, {
      signal: opts.signal,
      concurrency: PER_REPOSITORY_CONCURRENCY,
      tagHistory: opts.deleteUntagged,
      references,
    });
    scanned += 1;
    opts.progress?.(scanned);
    return scan;
  });
  const marked = new Set<Digest>();
  const untagged: UntaggedManifest[] = [];
  let keptManifests = 0;
  for (const scan of scans) {
    const kept = opts.deleteUntagged ? reachableFromTags(scan) : undefined;
    const dropped = markRepository(scan, kept, marked, opts.emit);
    keptManifests += scan.revisions.length - dropped.length;
    if (dropped.length === 0) continue;
    // Inverted once per repository, so finding a manifest's tags never scans every tag.
    const historyOf = new Map<Digest, Tag[]>();
    for (const [tag, history] of scan.tagHistory ?? []) {
      for (const digest of history) {
        const tags = historyOf.get(digest);
        if (tags === undefined) historyOf.set(digest, [tag]);
        else tags.push(tag);
      }
    }
    for (const digest of dropped) {
      const subject = scan.manifests.get(digest)?.subject;
      const tags = historyOf.get(digest) ?? [];
      untagged.push({ repository: scan.name, digest, tags, ...(subject === undefined ? {} : { subject }) });
    }
  }
  return { repositories: scans, marked, untagged, keptManifests };
}
