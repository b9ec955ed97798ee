/**
 * The fence between online garbage collection and writers, so a collection running while
 * clients push never deletes a blob that is being uploaded, mounted or referenced.
 *
 * Each blob has a directory of entries in storage (see `gcBlobDir` in registry/paths.ts):
 * `linked.<ms>.<id>` left by a writer, `deleting.<ms>.<id>` left by a collector. The protocol is
 * Dekker's: each side first writes its own entry, then reads the other side's.
 *
 * - A writer (upload commit, mount, manifest put) calls {@link LinkFence.protect} for every blob
 *   it is about to link or reference: it writes a `linked` entry (or reuses one younger than a
 *   quarter of the grace period), then lists the directory and waits while a live `deleting`
 *   entry is there. Only then does it check in storage, not in a cache, that the blob exists.
 * - A collector deletes a blob only through {@link DeletionGuard.run}: it writes a `deleting`
 *   entry, lists the directory and deletes nothing when a `linked` entry is at least as recent
 *   as the run's start minus the grace period; otherwise it deletes the blob and the layer links
 *   to it, then removes its entry.
 *
 * Why nothing live is deleted, for storage that reads its own writes (filesystem, S3 since
 * 2020, GCS, Azure): of the two writes, one lands first. If the writer's `linked` entry did, the
 * collector's listing sees it and keeps the blob. If the collector's `deleting` entry did, the
 * writer's listing sees it and waits until the collector is done; the writer's existence check
 * then finds the blob either still there (kept) or gone, which it handles as for any absent
 * blob: an upload moves its data into place, a mount falls back to an upload, a manifest put
 * answers MANIFEST_BLOB_UNKNOWN. Neither ends with a reference to deleted data.
 *
 * What "at least as recent" must cover: the collector marks from the manifests it reads at the
 * start of the run, so a reference committed after it read that repository is only protected by
 * the writer's entry. A manifest put therefore commits within half the grace period of its
 * entry ({@link FenceToken.fresh}), or protects and checks again; its entry is then newer than
 * any run start that could have missed the reference, minus the grace period. Uploads and mounts
 * only write layer links, which a collection never treats as roots: their entry keeps the blob
 * for the grace period, the time a client has to push the manifest that references it.
 *
 * Limits, documented for operators: clocks of replicas and storage must agree within a fraction
 * of the grace period (entries carry the writer's clock); a collector that stalls for more than
 * half of {@link INTENT_TTL_MS} between checking and deleting gives the blob up rather than
 * delete it; a collector that dies leaves a `deleting` entry that writers ignore once older than
 * {@link INTENT_TTL_MS}. Empty per-blob directories remain on the filesystem driver (removing one
 * would race a writer creating an entry in it); old entries are removed after each run.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { mapLimit } from '../registry/concurrency.js';
import type { FenceToken, LinkFence } from '../registry/link-fence.js';
import { deleteIfExists, listIfExists } from '../registry/links.js';
import type { Digest } from '../registry/names.js';
import { gcBlobDir, gcBlobEntryPath, lastComponent } from '../registry/paths.js';
import type { CallOptions } from '../registry/types.js';
import type { StorageDriver } from '../storage/driver.js';

/** How long a collector's `deleting` entry stands; an older one is from a collector that died. */
export const INTENT_TTL_MS = 120_000;

const PROTECT_CONCURRENCY = 16;
const EMPTY = new Uint8Array(0);

export type FenceEntryKind = 'linked' | 'deleting';

export interface FenceEntry {
  kind: FenceEntryKind;
  /** When it was written, in ms since the epoch by its writer's clock. */
  at: number;
  /** Its driver path. */
  path: string;
}

/** A fresh, path-safe identity for one process's entries. */
export function newFenceId(): string {
  return randomBytes(6).toString('hex');
}

export function fenceEntryName(kind: FenceEntryKind, at: number, id: string): string {
  return `${kind}.${at}.${id}`;
}

/** Parses an entry path; undefined for anything that is not one. */
export function parseFenceEntry(path: string): FenceEntry | undefined {
  const [kind, at, id, ...rest] = lastComponent(path).split('.');
  if ((kind !== 'linked' && kind !== 'deleting') || id === undefined || rest.length > 0) return undefined;
  const time = Number(at);
  return Number.isSafeInteger(time) ? { kind, at: time, path } : undefined;
}

async function listEntries(driver: StorageDriver, digest: Digest, opts: CallOptions): Promise<FenceEntry[]> {
  const entries: FenceEntry[] = [];
  for (const path of await listIfExists(driver, gcBlobDir(digest), opts)) {
    const entry = parseFenceEntry(path);
    if (entry !== undefined) entries.push(entry);
  }
  return entries;
}

export interface LinkFenceOptions {
  driver: StorageDriver;
  /** `storage.maintenance.gc.graceperiod` in ms; must be the same on every replica. */
  graceMs: number;
  /** How often a writer looks again while a collector is deleting a blob it wants (default 20 ms). */
  pollMs?: number;
}

/** The writers' side: what the registry services call before linking or referencing blobs. */
export function createLinkFence(options: LinkFenceOptions): LinkFence {
  const { driver, graceMs } = options;
  const pollMs = options.pollMs ?? 20;
  const id = newFenceId();
  let sequence = 0;

  async function protectOne(digest: Digest, opts: CallOptions): Promise<number> {
    let entries = await listEntries(driver, digest, opts);
    let newest = Math.max(-Infinity, ...entries.filter((e) => e.kind === 'linked').map((e) => e.at));
    if (!(Date.now() - newest < graceMs / 4)) {
      newest = Date.now();
      sequence += 1;
      const name = fenceEntryName('linked', newest, `${id}-${sequence}`);
      await driver.putContent(gcBlobEntryPath(digest, name), EMPTY, { signal: opts.signal });
      // Read after our own write: this is the half of the handshake that sees a collector.
      entries = await listEntries(driver, digest, opts);
    }
    while (entries.some((e) => e.kind === 'deleting' && Date.now() - e.at < INTENT_TTL_MS)) {
      await sleep(pollMs, undefined, opts.signal === undefined ? {} : { signal: opts.signal });
      entries = await listEntries(driver, digest, opts);
    }
    return newest;
  }

  return {
    async protect(digests, opts = {}): Promise<FenceToken> {
      const times = await mapLimit([...new Set(digests)], PROTECT_CONCURRENCY, (d) => protectOne(d, opts));
      const oldest = Math.min(Date.now(), ...times);
      return { fresh: () => Date.now() - oldest < graceMs / 2 };
    },
  };
}

/** The collector's side of the fence. */
export interface DeletionGuard {
  /**
   * Runs `remove` (which deletes the blob and the links to it) unless a writer linked the blob
   * at or after `since` (ms since the epoch), holding a `deleting` entry meanwhile.
   * @returns whether `remove` ran.
   */
  run(digest: Digest, since: number, remove: () => Promise<void>, opts?: CallOptions): Promise<boolean>;
}

export function createDeletionGuard(driver: StorageDriver, id: string = newFenceId()): DeletionGuard {
  return {
    async run(digest, since, remove, opts = {}) {
      const at = Date.now();
      const path = gcBlobEntryPath(digest, fenceEntryName('deleting', at, id));
      await driver.putContent(path, EMPTY, { signal: opts.signal });
      try {
        const entries = await listEntries(driver, digest, opts);
        if (entries.some((e) => e.kind === 'linked' && e.at >= since)) return false;
        // Writers stop waiting for an old entry: past half its lifetime, let the blob be.
        if (Date.now() - at > INTENT_TTL_MS / 2) return false;
        await remove();
        return true;
      } finally {
        await deleteIfExists(driver, path);
      }
    },
  };
}

/**
 * Removes `linked` entries older than `linkedBefore` and `deleting` entries older than
 * {@link INTENT_TTL_MS}: neither can matter to any later run.
 * @returns how many entries were removed.
 */
export async function pruneFenceEntries(
  driver: StorageDriver,
  root: string,
  linkedBefore: number,
  opts: CallOptions = {},
): Promise<number> {
  const stale: string[] = [];
  const now = Date.now();
  for await (const info of driver.walk(root, { signal: opts.signal })) {
    if (info.isDir) continue;
    const entry = parseFenceEntry(info.path);
    if (entry === undefined) continue;
    if (entry.kind === 'linked' ? entry.at < linkedBefore : now - entry.at > INTENT_TTL_MS) stale.push(info.path);
  }
  await mapLimit(stale, PROTECT_CONCURRENCY, (path) => deleteIfExists(driver, path, opts));
  return stale.length;
}
