/**
 * The driver contract's walk over a flat, name-ordered object listing: one listing request per
 * few thousand objects instead of one per directory, with the directories derived from names.
 *
 * A flat listing comes in string order of names, a walk must come in walk order (components
 * compared one by one, a directory before its contents). The two differ only where '-' or '.'
 * (the two path characters below '/') meets '/': the listing yields `/r/a-b/x` before `/r/a/y`,
 * the walk wants `/r/a`, `/r/a/y`, then `/r/a-b`, `/r/a-b/x`. So entries wait in a small buffer
 * until no later name can precede them in walk order. Memory is bounded by the largest run of
 * such siblings (e.g. repository `foo-bar` waits while `foo/` is listed), never by the store.
 *
 * Shared by the object-store drivers (s3, azure), whose listings come in this order.
 */
import type { FileInfo } from '../driver.js';
import { compareWalkOrder, isAncestorPath, parentPath } from '../paths.js';

/** One object of a flat listing, named by its driver path. */
export interface ListedFile {
  path: string;
  size: number;
  modTime: Date;
}

export interface FlatWalkOptions {
  signal?: AbortSignal | undefined;
  startAfter?: string | undefined;
  descend?: ((info: FileInfo) => boolean) | undefined;
}

/** Whether path character `c` sorts before '/' (only '-' and '.' do among the allowed ones). */
function sortsBeforeSlash(c: string | undefined): boolean {
  return c === '-' || c === '.';
}

/**
 * Whether some name listed after `latest` could precede `path` in walk order. Such a name shares
 * a prefix with `path` up to a position where `path` has '-' or '.' and the later name has '/';
 * that is only still possible while `latest` shares that prefix and has not passed '/' there.
 * Positions inside the walked directory's own prefix (`from`) are shared by every name.
 */
export function mayBePrecededLater(path: string, latest: string, from: number): boolean {
  const n = Math.min(path.length, latest.length);
  let i = from;
  while (i < n && path[i] === latest[i]) {
    if (sortsBeforeSlash(path[i])) return true;
    i++;
  }
  if (i >= path.length) return false;
  const c = latest[i];
  return sortsBeforeSlash(path[i]) && c !== undefined && c <= '/';
}

/**
 * The lowest key a flat listing of `dirPrefix` may start after when resuming a walk after
 * `startAfter`. Flat listings come in string order, walks in walk order; they disagree only where
 * '-' or '.' meets '/' (`a-x` lists before `a/1` but walks after it), which can move a key before
 * `startAfter` only at one of its '/'. So everything up to the first component of `startAfter`
 * below the walked directory can be skipped, and nothing beyond it safely.
 */
export function walkListingStart(dirPrefix: string, startAfterKey: string): string | undefined {
  if (!startAfterKey.startsWith(dirPrefix)) return undefined;
  const rest = startAfterKey.slice(dirPrefix.length);
  const slash = rest.indexOf('/');
  const first = slash === -1 ? rest : rest.slice(0, slash);
  return first === '' ? undefined : dirPrefix + first;
}

/** Inserts `info` into `pending`, kept sorted in walk order; new entries usually go last. */
function insertSorted(pending: FileInfo[], info: FileInfo): void {
  let lo = 0;
  let hi = pending.length;
  if (hi === 0 || compareWalkOrder(pending[hi - 1]!.path, info.path) < 0) {
    pending.push(info);
    return;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareWalkOrder(pending[mid]!.path, info.path) < 0) lo = mid + 1;
    else hi = mid;
  }
  pending.splice(lo, 0, info);
}

/** The directories between `dir` (exclusive) and `path` (exclusive), outermost first. */
function directoriesBetween(dir: string, path: string): string[] {
  const out: string[] = [];
  for (let p = parentPath(path); p !== dir && isAncestorPath(dir, p); p = parentPath(p)) out.push(p);
  return out.reverse();
}

/**
 * Turns the flat listing of everything below `dir` (in string order of paths) into the contract's
 * walk: directories derived from names, depth-first in lexical order, `startAfter` and `descend`
 * applied as {@link StorageDriver.walk} documents.
 */
export async function* walkFlatListing(
  files: AsyncIterable<ListedFile>,
  dir: string,
  opts: FlatWalkOptions = {},
): AsyncGenerator<FileInfo> {
  const { signal, startAfter, descend } = opts;
  const from = dir === '/' ? 1 : dir.length + 1;
  const pending: FileInfo[] = [];
  const pruned = new Set<string>();
  let previous: string | undefined;

  const isPruned = (path: string): boolean => {
    if (pruned.size === 0) return false;
    for (let p = parentPath(path); p !== dir && p !== '/'; p = parentPath(p)) {
      if (pruned.has(p)) return true;
    }
    return false;
  };

  /** Emits pending entries in walk order while nothing listed later can come before them. */
  async function* drain(latest: string | undefined): AsyncGenerator<FileInfo> {
    while (pending.length > 0) {
      const next = pending[0]!;
      if (latest !== undefined && mayBePrecededLater(next.path, latest, from)) return;
      pending.shift();
      if (isPruned(next.path)) continue;
      if (startAfter !== undefined && compareWalkOrder(next.path, startAfter) <= 0) {
        // Ancestors of startAfter are entered but not yielded; descend still decides.
        if (next.isDir && isAncestorPath(next.path, startAfter) && descend !== undefined && !descend(next)) {
          pruned.add(next.path);
        }
        continue;
      }
      yield next;
      signal?.throwIfAborted();
      if (next.isDir && descend !== undefined && !descend(next)) pruned.add(next.path);
    }
  }

  signal?.throwIfAborted();
  for await (const file of files) {
    signal?.throwIfAborted();
    if (!isPruned(file.path)) {
      for (const d of directoriesBetween(dir, file.path)) {
        // Everything below a directory is one contiguous run of the listing, so a directory is
        // new exactly when the previous name was not below it.
        if (previous === undefined || !isAncestorPath(d, previous)) {
          insertSorted(pending, { path: d, size: 0, modTime: file.modTime, isDir: true });
        }
      }
      insertSorted(pending, { path: file.path, size: file.size, modTime: file.modTime, isDir: false });
    }
    previous = file.path;
    yield* drain(file.path);
  }
  yield* drain(undefined);
}
