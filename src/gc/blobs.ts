/**
 * Enumerates the global blob store as cheaply as the driver allows, because a collection visits
 * every blob while it only needs to know more about the few it deletes:
 *
 * - Object stores (and any driver but the filesystem) are read with the driver's own walk of
 *   `blobs/`: one flat listing, a request per thousand objects, that carries each `data`
 *   object's size and modification time. No blob is stat'ed.
 * - The filesystem driver's walk must stat every entry (a directory listing has no sizes), three
 *   system calls per blob. There the `blobs/<alg>/<xx>` shard directories are listed instead —
 *   a few hundred `readdir`s for the whole store, measured 100× cheaper than the walk — and only
 *   the blobs the caller keeps as candidates are stat'ed later ({@link describeBlob}).
 *
 * Shards are read several at a time, so storage always has requests in flight.
 */
import { mapLimit } from '../registry/concurrency.js';
import type { Digest } from '../registry/names.js';
import { BLOBS_ROOT, blobDataPath, blobDigestFromDataPath } from '../registry/paths.js';
import type { CallOptions } from '../registry/types.js';
import type { FileInfo, StorageDriver } from '../storage/driver.js';
import { isPathNotFound } from '../storage/errors.js';
import { scanList } from './scan.js';

export interface BlobInfo {
  /** Bytes of `data`. */
  size: number;
  /** When `data` was last written, as the driver reports it. */
  modTime: Date;
}

export interface EnumerateOptions extends CallOptions {
  /** Shards read at once. */
  concurrency: number;
  /**
   * Called once per blob, in no particular order, with its size and time when the listing
   * carried them (otherwise ask {@link describeBlob}).
   */
  onBlob(digest: Digest, info: BlobInfo | undefined): void;
}

/** Whether listing the shards beats the driver's walk (see the module comment). */
function listsShards(driver: StorageDriver): boolean {
  return driver.name === 'filesystem';
}

async function shardsOf(driver: StorageDriver, opts: CallOptions): Promise<string[]> {
  const shards: string[] = [];
  for (const algorithmDir of await scanList(driver, BLOBS_ROOT, opts)) {
    shards.push(...(await scanList(driver, algorithmDir, opts)));
  }
  return shards;
}

/** @returns how many blobs were found. */
export async function enumerateBlobs(driver: StorageDriver, opts: EnumerateOptions): Promise<number> {
  let count = 0;
  if (listsShards(driver)) {
    await mapLimit(await shardsOf(driver, opts), opts.concurrency, async (shard) => {
      for (const dir of await scanList(driver, shard, opts)) {
        const digest = blobDigestFromDataPath(`${dir}/data`);
        if (digest === undefined) continue;
        count += 1;
        opts.onBlob(digest, undefined);
      }
    });
    return count;
  }
  const found = (info: FileInfo): void => {
    if (info.isDir) return;
    const digest = blobDigestFromDataPath(info.path);
    if (digest === undefined) return;
    count += 1;
    opts.onBlob(digest, { size: info.size, modTime: info.modTime });
  };
  for await (const info of driver.walk(BLOBS_ROOT, { signal: opts.signal })) found(info);
  return count;
}

/** Stats a blob's `data`. @returns undefined when there is none (a directory left without data). */
export async function describeBlob(
  driver: StorageDriver,
  digest: Digest,
  opts: CallOptions = {},
): Promise<BlobInfo | undefined> {
  try {
    const info = await driver.stat(blobDataPath(digest), { signal: opts.signal });
    return info.isDir ? undefined : { size: info.size, modTime: info.modTime };
  } catch (error) {
    if (isPathNotFound(error)) return undefined;
    throw error;
  }
}
