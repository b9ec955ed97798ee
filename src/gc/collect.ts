/**
 * Mark and sweep over distribution's layout, compatible with `registry garbage-collect`: mark
 * every blob a kept manifest needs (see mark.ts), optionally remove untagged manifests, then
 * walk the blob store and delete every blob nothing marked, with the repository `_layers` links
 * to it. Offline (the CLI) it assumes nothing writes meanwhile, as registry:2 does; online it
 * keeps blobs younger than the grace period and deletes only through the fence (fence.ts).
 */
import { mapLimit } from '../registry/concurrency.js';
import type { DescriptorCache } from '../registry/descriptor-cache.js';
import { deleteIfExists } from '../registry/links.js';
import type { Digest, RepositoryName } from '../registry/names.js';
import {
  blobDataPath,
  blobDir,
  layerLinkDir,
  manifestRevisionDir,
  referrerDir,
  tagIndexEntryDir,
} from '../registry/paths.js';
import type { CallOptions } from '../registry/types.js';
import type { StorageDriver } from '../storage/driver.js';
import { isPathNotFound } from '../storage/errors.js';
import { type BlobInfo, describeBlob, enumerateBlobs } from './blobs.js';
import type { DeletionGuard } from './fence.js';
import { listRepositories, mark, type UntaggedManifest } from './mark.js';

export const DEFAULT_GC_CONCURRENCY = 32;

export interface GcProgress {
  phase: 'mark' | 'sweep' | 'delete';
  done: number;
  /** Known for `mark` (repositories) and `delete` (deletions). */
  total?: number;
}

export interface OnlineCollection {
  /** Blobs whose data or last link is younger than this are kept. */
  graceMs: number;
  /** The collector's side of the fence that every deletion goes through. */
  guard: DeletionGuard;
}

export interface CollectOptions extends CallOptions {
  driver: StorageDriver;
  /** Report what would be removed without removing anything. */
  dryRun?: boolean;
  /** Also remove manifests no tag reaches (offline only). */
  deleteUntagged?: boolean;
  /** Storage calls in flight at once (default 32). */
  concurrency?: number;
  /** Forgets every deleted blob and link, so no process serves them from a cache. */
  cache?: DescriptorCache | undefined;
  /** Collect while the registry serves writes; see fence.ts. */
  online?: OnlineCollection | undefined;
  /** Receives registry:2-style output lines. */
  emit?: ((line: string) => void) | undefined;
  progress?: ((progress: GcProgress) => void) | undefined;
}

export interface CollectResult {
  dryRun: boolean;
  repositories: number;
  /** Manifest revisions read, over all repositories. */
  manifests: number;
  /** Tags read (only with `deleteUntagged`: otherwise tags do not matter). */
  tags: number;
  /** Distinct digests marked (manifests and blobs). */
  markedBlobs: number;
  /** Blobs found in the blob store. */
  blobs: number;
  /** Unmarked blobs (online: also old enough and not recently linked). */
  eligibleBlobs: number;
  deletedBlobs: number;
  /** Bytes of the deleted blobs (dry run: of the eligible ones). */
  reclaimedBytes: number;
  eligibleManifests: number;
  deletedManifests: number;
  /** Layer links to unmarked blobs that were (dry run: would be) removed. */
  layerLinks: number;
  /** Online: unmarked blobs kept because their data is younger than the grace period. */
  keptYoung: number;
  /** Online: unmarked blobs kept because a writer linked them during the grace period. */
  keptLinked: number;
  /** Revisions whose manifest blob is missing. */
  missingManifests: number;
  durationMs: number;
}

async function removeManifest(
  driver: StorageDriver,
  cache: DescriptorCache | undefined,
  entry: UntaggedManifest,
  opts: CallOptions,
): Promise<void> {
  const { repository, digest } = entry;
  await mapLimit(entry.tags, 8, (tag) => deleteIfExists(driver, tagIndexEntryDir(repository, tag, digest), opts));
  if (entry.subject !== undefined) await deleteIfExists(driver, referrerDir(repository, entry.subject, digest), opts);
  await deleteIfExists(driver, manifestRevisionDir(repository, digest), opts);
  await cache?.links?.delete(repository, digest);
}

async function blobExists(driver: StorageDriver, digest: Digest, opts: CallOptions): Promise<boolean> {
  try {
    await driver.stat(blobDataPath(digest), { signal: opts.signal });
    return true;
  } catch (error) {
    if (isPathNotFound(error)) return false;
    throw error;
  }
}

function formatUntagged(entry: UntaggedManifest): string {
  return `manifest eligible for deletion: ${entry.repository}@${entry.digest}`;
}

/** Runs one collection. Rejects on the first storage error, leaving the store consistent. */
export async function collectGarbage(options: CollectOptions): Promise<CollectResult> {
  const started = Date.now();
  const { driver, emit, progress, online, cache } = options;
  const dryRun = options.dryRun === true;
  const deleteUntagged = options.deleteUntagged === true && online === undefined;
  const concurrency = options.concurrency ?? DEFAULT_GC_CONCURRENCY;
  const signal = options.signal;
  const callOpts: CallOptions = { signal };
  const since = started - (online?.graceMs ?? 0);

  let found = 0;
  const names = await listRepositories(driver, { signal, concurrency });
  progress?.({ phase: 'mark', done: 0, total: names.length });
  const marked = await mark(driver, names, {
    signal,
    deleteUntagged,
    concurrency,
    emit,
    progress: (done) => progress?.({ phase: 'mark', done, total: names.length }),
  });
  const result: CollectResult = {
    dryRun,
    repositories: names.length,
    manifests: 0,
    tags: 0,
    markedBlobs: marked.marked.size,
    blobs: 0,
    eligibleBlobs: 0,
    deletedBlobs: 0,
    reclaimedBytes: 0,
    eligibleManifests: marked.untagged.length,
    deletedManifests: 0,
    layerLinks: 0,
    keptYoung: 0,
    keptLinked: 0,
    missingManifests: 0,
    durationMs: 0,
  };
  for (const scan of marked.repositories) {
    result.manifests += scan.revisions.length;
    result.tags += scan.tagCount;
    result.missingManifests += scan.missing.length;
  }

  for (const entry of marked.untagged) emit?.(formatUntagged(entry));
  if (!dryRun && marked.untagged.length > 0) {
    await mapLimit(marked.untagged, concurrency, (entry) => removeManifest(driver, cache, entry, callOpts));
    result.deletedManifests = marked.untagged.length;
  }

  // Layer links to blobs nothing marked, by blob: they go together with the blob.
  const linksOf = new Map<Digest, RepositoryName[]>();
  for (const scan of marked.repositories) {
    for (const digest of scan.layers) {
      if (marked.marked.has(digest)) continue;
      const repositories = linksOf.get(digest);
      if (repositories === undefined) linksOf.set(digest, [scan.name]);
      else repositories.push(scan.name);
    }
  }

  const unmarked: Array<{ digest: Digest; info: BlobInfo | undefined }> = [];
  result.blobs = await enumerateBlobs(driver, {
    signal,
    concurrency,
    onBlob(digest, info) {
      if (++found % 1000 === 0) progress?.({ phase: 'sweep', done: found });
      if (!marked.marked.has(digest)) unmarked.push({ digest, info });
    },
  });
  // Only the unmarked few are described, and only when the listing did not say already.
  const described = await mapLimit(unmarked, concurrency, async ({ digest, info }) => ({
    digest,
    info: info ?? (await describeBlob(driver, digest, callOpts)),
  }));
  const present = new Set<Digest>();
  const eligible: Array<{ digest: Digest; size: number }> = [];
  for (const { digest, info } of described) {
    if (info === undefined) continue;
    present.add(digest);
    if (online !== undefined && info.modTime.getTime() >= since) result.keptYoung += 1;
    else eligible.push({ digest, size: info.size });
  }
  result.eligibleBlobs = eligible.length;
  emit?.(
    `\n${marked.marked.size} blobs marked, ${eligible.length} blobs and ${marked.untagged.length} manifests eligible for deletion`,
  );

  // Counts as it goes: `total += await …` would read the total before awaiting and lose updates.
  const removeLinks = async (digest: Digest): Promise<void> => {
    const repositories = linksOf.get(digest) ?? [];
    await mapLimit(repositories, 8, async (name) => {
      await deleteIfExists(driver, layerLinkDir(name, digest), callOpts);
      await cache?.links?.delete(name, digest);
      result.layerLinks += 1;
    });
  };

  let done = 0;
  const total = eligible.length;
  await mapLimit(eligible, concurrency, async (blob) => {
    emit?.(`blob eligible for deletion: ${blob.digest}`);
    if (dryRun) {
      result.reclaimedBytes += blob.size;
      return;
    }
    const remove = async (): Promise<void> => {
      await deleteIfExists(driver, blobDir(blob.digest), callOpts);
      await cache?.delete(blob.digest);
      if (online !== undefined) await removeLinks(blob.digest);
    };
    if (online === undefined) await remove();
    else if (!(await online.guard.run(blob.digest, since, remove, callOpts))) {
      result.keptLinked += 1;
      return;
    }
    result.deletedBlobs += 1;
    result.reclaimedBytes += blob.size;
    done += 1;
    if (done % 100 === 0) progress?.({ phase: 'delete', done, total });
  });

  if (online === undefined) {
    // As registry:2 does after its blobs: every link to an unmarked blob, dangling ones included.
    for (const scan of marked.repositories) {
      for (const digest of scan.layers) {
        if (!marked.marked.has(digest)) emit?.(`${scan.name}: layer link eligible for deletion: ${digest}`);
      }
    }
    const digests = [...linksOf.keys()];
    if (dryRun) for (const digest of digests) result.layerLinks += linksOf.get(digest)?.length ?? 0;
    else await mapLimit(digests, concurrency, removeLinks);
  } else if (!dryRun) {
    // Links whose blob was already gone: removed under the fence, and only while the blob is still absent.
    const dangling = [...linksOf.keys()].filter((digest) => !present.has(digest));
    await mapLimit(dangling, concurrency, (digest) =>
      online.guard.run(
        digest,
        since,
        async () => {
          if (!(await blobExists(driver, digest, callOpts))) await removeLinks(digest);
        },
        callOpts,
      ),
    );
  }
  result.durationMs = Date.now() - started;
  return result;
}
