/**
 * The filesystem driver's caches of small files (links, manifests) and of directory listings (tags,
 * index directories), validated on every use by a `stat`: a hit costs one stat instead of open,
 * fstat, read and close, or a readdir and a sort. Correct across processes and replicas sharing
 * the directory, because an entry is only used while the inode, size and mtime are unchanged, and
 * every write Berth (or registry:2) makes replaces the file or changes the mtime (a directory's
 * mtime changes with every entry added, removed or renamed in it).
 *
 * Timestamps are coarse (a few ms): a file changed twice within one tick keeps its mtime. So an
 * entry is only trusted when the file's mtime was already two seconds old when it was read: a
 * change after that read gets a later mtime. A file written moments ago (a tag being moved) is
 * simply read again until it settles.
 *
 * The filesystem driver validates a kept entry with a synchronous `stat` (see there): the file
 * was read recently, so its inode is in the kernel's cache and the call takes microseconds.
 */
import type { Stats } from 'node:fs';
import { RecencyMap } from '../recency-map.js';

/** Files larger than this are not kept. */
const MAX_ENTRY_BYTES = 1024 * 1024;
/** Each cache's whole budget; least recently used entries go first (second chance: see RecencyMap). */
const MAX_TOTAL_BYTES = 32 * 1024 * 1024;
/** See the module comment. */
const SETTLED_MS = 2000;

interface Entry<T> {
  ino: number;
  size: number;
  mtimeMs: number;
  value: T;
  bytes: number;
}

export interface ValidatedCache<T> {
  /** Whether an entry for `path` is kept (it may still turn out stale when validated). */
  has(path: string): boolean;
  /** The cached value of `path` when `st` (a fresh stat) shows the same version; callers must not modify it. */
  get(path: string, st: Stats): T | undefined;
  /** Keeps `value`, read after a stat that returned `st`, when the file or directory has settled. */
  set(path: string, st: Stats, value: T): void;
}

/** The cache of file contents: only files read whole (`content.length` equal to the stat's size). */
export function createContentCache(): ValidatedCache<Buffer> {
  return createValidatedCache<Buffer>((content, st) => (content.length === st.size ? content.length : undefined));
}

/** The cache of sorted directory listings. */
export function createListingCache(): ValidatedCache<string[]> {
  return createValidatedCache<string[]>((paths) => paths.reduce((n, p) => n + p.length + 32, 64));
}

/** @param sizeOf the bytes an entry costs, or undefined when it must not be kept. */
function createValidatedCache<T>(sizeOf: (value: T, st: Stats) => number | undefined): ValidatedCache<T> {
  const entries = new RecencyMap<string, Entry<T>>();
  let total = 0;

  const drop = (path: string, entry: Entry<T>): void => {
    entries.delete(path);
    total -= entry.bytes;
  };

  return {
    has: (path) => entries.has(path),

    get(path, st) {
      const entry = entries.get(path);
      if (entry === undefined) return undefined;
      if (entry.ino !== st.ino || entry.size !== st.size || entry.mtimeMs !== st.mtimeMs) {
        drop(path, entry);
        return undefined;
      }
      return entry.value;
    },

    set(path, st, value) {
      const bytes = sizeOf(value, st);
      if (bytes === undefined || bytes > MAX_ENTRY_BYTES) return;
      if (Date.now() - st.mtimeMs < SETTLED_MS) return;
      const old = entries.peek(path);
      if (old !== undefined) drop(path, old);
      entries.evictWhile(
        () => total + bytes > MAX_TOTAL_BYTES,
        (_, entry) => {
          total -= entry.bytes;
        },
      );
      entries.set(path, { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, value, bytes });
      total += bytes;
    },
  };
}
